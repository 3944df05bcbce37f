"""The REAL Claude Code and Codex TUIs through the terminal filter, in tmux.

``scripts/agent-tui-terminal.py`` runs the agent interactively (a fake API, a filtered
sandbox, a recording of its raw output), types a prompt, waits for the reply on tmux's
screen, then lists every kind of escape sequence the agent sent and whether the filter
passed it. The TUI must work, and the filter may drop only the probes it is known to drop
(each ends in a DA1 the filter passes, so nothing waits): XTVERSION and the agent-state query.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_e2e import agent_bin  # noqa: F401 - the fixture

pytestmark = [pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "agent-tui-terminal.py"
#: what the filter drops of the real TUIs' output, on purpose (docs/threat-model.md)
EXPECTED_DROPS = {"CSI >…q", "OSC 7501 query"}


@pytest.mark.parametrize("agent", ["claude", "codex"])
def test_real_tui_works_through_the_filter(agent: str, agent_bin: Path) -> None:  # noqa: F811
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (apt-get install tmux)")
    done = subprocess.run(
        [sys.executable, str(SCRIPT), agent, "--bindir", str(agent_bin)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "reply on screen" in report
    rows = [line.split(None, 2) for line in done.stdout.splitlines() if line[:6].strip()]
    rows = [row for row in rows if row and row[0] in ("pass", "DROP")]
    dropped = {row[2] for row in rows if row[0] == "DROP"}
    passed = {row[2] for row in rows if row[0] == "pass"}
    assert dropped <= EXPECTED_DROPS, report
    assert "CSI …m" in passed, report  # colours
    assert "CSI c" in passed, report  # the DA1 that ends every probe
    if agent == "codex":
        assert "CSI 6n" in passed, report  # the cursor position its inline viewport needs
