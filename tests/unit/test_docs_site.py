"""scripts/mkdocs_hooks.py: pages still being written do not break the docs build, typos do.

The hooks do not import mkdocs, so they are tested here with plain stand-ins; the real build
(``mkdocs build --strict``) is scripts/check-docs.sh.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "mkdocs_hooks", REPO / "scripts" / "mkdocs_hooks.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def site(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    (docs / "howto").mkdir(parents=True)
    (docs / "index.md").write_text("# home\n")
    (docs / "ssh.md").write_text("# ssh\n")
    (docs / "howto" / "x.md").write_text("# x\n")
    (tmp_path / "README.md").write_text("readme\n")
    (tmp_path / "policies").mkdir()
    return docs


def _page(hooks: ModuleType, docs: Path, src: str, text: str, repo_url: str = "") -> str:
    page = SimpleNamespace(file=SimpleNamespace(src_uri=src))
    config: dict[str, Any] = {"docs_dir": str(docs), "repo_url": repo_url}
    result: str = hooks.on_page_markdown(text, page=page, config=config, files=None)
    return result


def test_nav_drops_upcoming_pages_that_do_not_exist_yet(hooks: ModuleType, site: Path) -> None:
    nav = [
        {"Home": "index.md"},
        {"Topics": [{"SSH": "ssh.md"}, {"Secrets": "secrets.md"}, {"Typo": "howto/y.md"}]},
        {"Later": [{"Sessions": "sessions.md"}]},
        {"Web": "https://example.com/"},
    ]
    config = hooks.on_config({"docs_dir": str(site), "nav": nav})
    assert config["nav"] == [
        {"Home": "index.md"},
        # a missing page that is not an upcoming one stays, so the strict build reports it
        {"Topics": [{"SSH": "ssh.md"}, {"Typo": "howto/y.md"}]},
        {"Web": "https://example.com/"},
    ]


def test_links_to_upcoming_pages(hooks: ModuleType, site: Path) -> None:
    text = "See [Secrets](../secrets.md#x), [SSH](../ssh.md) and [typo](../secretz.md)."
    out = _page(hooks, site, "howto/x.md", text)
    assert out == "See Secrets (in progress), [SSH](../ssh.md) and [typo](../secretz.md)."


def test_links_outside_the_docs(hooks: ModuleType, site: Path) -> None:
    text = "[README](../README.md), [`policies/`](../policies/), [gone](../nope.md)"
    out = _page(hooks, site, "index.md", text)
    assert out == "README (`README.md`), `policies/`, [gone](../nope.md)"
    linked = _page(hooks, site, "index.md", text, repo_url="https://git.example/bw")
    assert linked == (
        "[README](https://git.example/bw/blob/main/README.md), "
        "[`policies/`](https://git.example/bw/tree/main/policies), [gone](../nope.md)"
    )


def test_code_blocks_are_left_alone(hooks: ModuleType, site: Path) -> None:
    text = "```md\n[Secrets](secrets.md)\n```\n[Secrets](secrets.md)"
    assert _page(hooks, site, "index.md", text) == (
        "```md\n[Secrets](secrets.md)\n```\nSecrets (in progress)"
    )


def test_every_nav_entry_is_a_page_or_upcoming(hooks: ModuleType) -> None:
    """The nav of mkdocs.yml names existing pages, or upcoming ones the hook may drop."""
    text = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    nav = text[text.index("\nnav:") :]
    entries = re.findall(r":\s+(\S+\.md)\s*$", nav, re.MULTILINE)
    assert "tutorial.md" in entries
    for entry in entries:
        assert (REPO / "docs" / entry).is_file() or Path(entry).name in hooks.UPCOMING, entry
