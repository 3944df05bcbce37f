"""The checked-in generated modules are current: each generator's ``--check`` passes
(``scripts/_generated.py``). The stored values themselves are tested against their builders in
``test_shipped_policies.py`` and ``test_seccomp_shipped.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.parametrize("script", ["gen_shipped_policies.py", "gen_seccomp_programs.py"])
def test_the_generated_module_is_current(script: str) -> None:
    if script == "gen_seccomp_programs.py" and sys.byteorder != "little":
        pytest.skip("the stored filters are little-endian")
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--check"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_control_a_stale_module_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--check`` fails on a module that is not what its generator renders, and passes (and
    writes nothing) on one that is."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        from _generated import write_or_check  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(SCRIPTS))
    module = tmp_path / "generated.py"
    module.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["gen.py", "--check"])
    assert write_or_check(module, lambda: "new\n") == 1
    assert "out of date" in capsys.readouterr().err
    assert write_or_check(module, lambda: "old\n") == 0
    monkeypatch.setattr(sys, "argv", ["gen.py"])
    assert write_or_check(module, lambda: "new\n") == 0
    assert module.read_text(encoding="utf-8") == "new\n"
