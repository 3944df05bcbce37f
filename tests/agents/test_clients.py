"""Listing and removing client compartments."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwsandbox import _paths
from bwsandbox._errors import PolicyError
from bwsandbox.agents import list_clients, remove_client


def _make(client: str, *agents: str) -> Path:
    root = Path(_paths.client_dir(client))
    for agent in agents:
        (root / "agents" / agent / "home").mkdir(parents=True)
    root.mkdir(parents=True, exist_ok=True)
    return root


def test_list_clients() -> None:
    assert list_clients() == []
    _make("acme", "claude", "codex")
    _make("globex")
    clients = list_clients()
    assert [c.name for c in clients] == ["acme", "globex"]
    assert clients[0].agents == ("claude", "codex")
    assert clients[1].agents == ()


def test_list_ignores_symlinks(tmp_path: Path) -> None:
    _make("acme")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (Path(_paths.data_dir()) / "clients" / "evil").symlink_to(elsewhere)
    assert [c.name for c in list_clients()] == ["acme"]


def test_remove_client(tmp_path: Path) -> None:
    root = _make("acme", "claude")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep")
    # a symlink inside the compartment (the sandbox could plant one) is removed, not followed
    (root / "agents" / "claude" / "home" / "link").symlink_to(victim)
    _make("globex", "claude")
    assert remove_client("acme") is True
    assert not root.exists()
    assert (victim / "keep").read_text() == "keep"
    assert [c.name for c in list_clients()] == ["globex"]
    assert remove_client("acme") is False


def test_remove_client_symlinked_client_dir_is_not_followed(tmp_path: Path) -> None:
    _make("globex")
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep").write_text("keep")
    (Path(_paths.data_dir()) / "clients" / "evil").symlink_to(victim)
    with pytest.raises(Exception, match="not a directory"):
        remove_client("evil")
    assert (victim / "keep").read_text() == "keep"


def test_remove_invalid_name() -> None:
    with pytest.raises(PolicyError):
        remove_client("../x")
