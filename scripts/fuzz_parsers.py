#!/usr/bin/env python3
"""A longer fuzz run of the parsers that face the sandbox (HTTP heads, chunked bodies, the
injection's response filter, CONNECT targets, DNS questions, TLS ClientHellos).

Runs the property tests of ``tests/net/test_parsers.py`` (h11, dnslib and OpenSSL as
oracles) with many more examples than the suite does::

    .venv/bin/python scripts/fuzz_parsers.py            # 20,000 examples per property
    .venv/bin/python scripts/fuzz_parsers.py 200000     # longer

Exit status: pytest's (0 when every property held).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    examples = sys.argv[1] if len(sys.argv) > 1 else "20000"
    env = {**os.environ, "BWSANDBOX_FUZZ_EXAMPLES": examples}
    command = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
        "tests/net/test_parsers.py", "--hypothesis-show-statistics",
    ]  # fmt: skip
    return subprocess.run(command, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
