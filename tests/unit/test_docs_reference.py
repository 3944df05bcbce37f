"""The generated reference pages in docs/reference are up to date with the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gen_reference.py"
PAGES = ("cli.md", "policy.md", "exit-status.md")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)], check=True, cwd=REPO, timeout=60
    )
    return out


@pytest.mark.parametrize("page", PAGES)
def test_reference_page_is_up_to_date(generated: Path, page: str) -> None:
    fresh = (generated / page).read_text(encoding="utf-8")
    committed = (REPO / "docs" / "reference" / page).read_text(encoding="utf-8")
    assert committed == fresh, (
        f"docs/reference/{page} is out of date: run python scripts/gen_reference.py"
    )


def test_cli_reference_covers_every_command(generated: Path) -> None:
    from bwsandbox.cli._spec import AGENT_COMMANDS, RUN_OPTIONS

    text = (generated / "cli.md").read_text(encoding="utf-8")
    for name in (*AGENT_COMMANDS, "explain", "doctor", "logs", "policy check", "clients rm"):
        assert f"### `agent-sandbox {name}`" in text or f"#### `agent-sandbox {name}`" in text
    for spec in RUN_OPTIONS:
        assert f"`{spec.names[0]}" in text
    assert "`--version`" in text
    assert "`--install-completion`" in text


def test_policy_reference_covers_every_model_field(generated: Path) -> None:
    import dataclasses

    from bwsandbox.policy._schema import SPECS

    text = (generated / "policy.md").read_text(encoding="utf-8")
    for section, keys in SPECS.items():
        assert f"## `[{section}]`" in text
        for key in keys:
            assert f"| `{key}` |" in text
    from bwsandbox.policy._model import Bind

    for field in dataclasses.fields(Bind):
        assert f"| `{field.name}` |" in text


def test_check_mode_reports_stale_pages(tmp_path: Path) -> None:
    (tmp_path / "cli.md").write_text("stale\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path), "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 1
    assert "out of date" in result.stderr
    assert not (tmp_path / "policy.md").exists()  # --check never writes
