"""The network hook: attached after bwrap reports its child pid and before the command runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import bwsandbox.net
from bwsandbox import NetworkError, ProxyError
from bwsandbox.compile import NetworkPlan
from bwsandbox.policy import load_policy
from bwsandbox.policy._model import NetworkMode
from bwsandbox.runtime import Sandbox
from bwsandbox.runtime._workdir import PREFIX
from bwsandbox.testing import MemoryAudit

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]


class FakeNetwork:
    """Records what the runtime asks of the network layer."""

    def __init__(self, project: Path, fail: bool = False) -> None:
        self.project = project
        self.fail = fail
        self.calls: list[tuple[str, Any]] = []

    def open(
        self, plan: NetworkPlan, *, audit: Any, session_id: str, listeners: Any = None
    ) -> FakeNetwork:
        self.calls.append(("open", plan.mode))
        assert session_id
        return self

    def attach(self, pid: int) -> None:
        # the sandbox exists (its pid 1 runs) but the command has not started yet
        assert Path(f"/proc/{pid}").exists()
        self.calls.append(("attach", (self.project / "ran").exists()))
        if self.fail:
            raise NetworkError("netns setup failed (test)")

    def summary(self) -> list[str]:
        self.calls.append(("summary", None))
        return ["proxy on 127.0.0.1:3128"]

    def close(self) -> None:
        self.calls.append(("close", None))


@pytest.fixture
def host_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "host-tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    return path


def filtered_policy() -> Any:
    return load_policy(("base",), overlays=(("command line", {"network": {"mode": "filtered"}}),))


def test_network_is_attached_before_the_command_runs(
    project: Path, host_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNetwork(project)
    monkeypatch.setattr(bwsandbox.net, "open_network", fake.open, raising=False)
    audit = MemoryAudit()
    with Sandbox(filtered_policy(), project=project, command=["touch", "ran"], audit=audit) as box:
        assert box.wait() == 0
    assert fake.calls == [
        ("open", NetworkMode.FILTERED),
        ("attach", False),
        ("close", None),
        ("summary", None),
    ]
    assert (project / "ran").exists()
    assert [e["summary"] for e in audit.events if e["event"] == "network"] == [
        "proxy on 127.0.0.1:3128"
    ]


def test_failing_network_setup_never_runs_the_command(
    project: Path, host_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeNetwork(project, fail=True)
    monkeypatch.setattr(bwsandbox.net, "open_network", fake.open, raising=False)
    box = Sandbox(filtered_policy(), project=project, command=["touch", "ran"], audit=MemoryAudit())
    with pytest.raises(NetworkError):
        box.start()
    assert fake.calls[-2:] == [("close", None), ("summary", None)]
    assert not (project / "ran").exists()
    assert [p for p in host_tmp.iterdir() if p.name.startswith(PREFIX)] == []


def test_missing_network_layer_is_a_network_error(
    project: Path, host_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the network modules cannot be imported (the net face loads them lazily, on first use)
    monkeypatch.delattr(bwsandbox.net, "open_network", raising=False)
    monkeypatch.setitem(sys.modules, "bwsandbox.net._session", None)
    box = Sandbox(filtered_policy(), project=project, command=["touch", "ran"], audit=MemoryAudit())
    with pytest.raises(NetworkError) as info:
        box.start()
    assert info.value.exit_status == 125
    assert not (project / "ran").exists()
    assert [p for p in host_tmp.iterdir() if p.name.startswith(PREFIX)] == []


class ServingNetwork(FakeNetwork):
    """A network layer with ``serve``: attached without its threads, served after release."""

    fail_serve = False

    def attach(self, pid: int, *, serve: bool = True) -> None:
        self.calls.append(("attach serve", serve))
        super().attach(pid)

    def serve(self) -> None:
        self.calls.append(("serve", None))
        if self.fail_serve:
            raise ProxyError("cannot start the egress proxy (test)")


def test_the_threads_start_after_the_release(
    project: Path, host_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The runtime attaches with ``serve=False`` and serves once it has released the command
    (the control: the test above, a layer without ``serve``, is attached serving)."""
    fake = ServingNetwork(project)
    monkeypatch.setattr(bwsandbox.net, "open_network", fake.open, raising=False)
    with Sandbox(filtered_policy(), project=project, command=["touch", "ran"]) as box:
        assert box.wait() == 0
    assert fake.calls == [
        ("open", NetworkMode.FILTERED),
        ("attach serve", False),
        ("attach", False),
        ("serve", None),
        ("close", None),
        ("summary", None),
    ]


def test_a_serving_failure_after_the_release_stops_the_sandbox(
    project: Path, host_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = ServingNetwork(project)
    fake.fail_serve = True
    monkeypatch.setattr(bwsandbox.net, "open_network", fake.open, raising=False)
    box = Sandbox(filtered_policy(), project=project, command=["sleep", "60"])
    with pytest.raises(ProxyError):
        box.start()
    assert box.state.value == "failed"
    assert fake.calls[-2:] == [("close", None), ("summary", None)]
    assert [p for p in host_tmp.iterdir() if p.name.startswith(PREFIX)] == []
