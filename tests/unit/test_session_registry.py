"""The session registry without sandboxes: records, liveness, prefixes, privacy, pid reuse."""

from __future__ import annotations

import json
import os
import resource
import subprocess
from pathlib import Path

import pytest

from bwsandbox._errors import LaunchError, WorkspaceError
from bwsandbox._paths import record_key
from bwsandbox.runtime._exec import _lowest
from bwsandbox.runtime._probe import probe_host
from bwsandbox.runtime._registry import (
    find_session,
    list_sessions,
    proc_start_time,
    register,
    registry_dir,
    runtime_dir,
    unregister,
)
from bwsandbox.runtime._registry_record import ProcessRef, SessionRecord


@pytest.fixture
def runtime(tmp_path: Path) -> str:
    path = tmp_path / "runtime"
    path.mkdir(mode=0o700)
    return str(path)


def _register(runtime: str, session: str, **overrides: object) -> str:
    fields: dict[str, object] = {
        "session": session,
        "client": "acme",
        "policy": "claude",
        "project": "/src/app",
        "network": "filtered",
        "bwrap_pid": os.getpid(),
        "init_pid": os.getpid(),
        "env": [("HOME", "/home/agent"), ("TOKEN", "s3cret")],
        "cwd": "/src/app",
        "uid": 1000,
        "gid": 1000,
        "seccomp": b"\x06\x00\x00\x00\x00\x00\xff\x7f",
        "key": record_key(),
    }
    fields.update(overrides)
    return register(runtime, **fields)  # type: ignore[arg-type]


def test_a_record_round_trips(runtime: str) -> None:
    path = _register(runtime, "aaaa00000001")
    (record,) = list_sessions(runtime)
    assert record.id == "aaaa00000001"
    assert (record.client, record.policy, record.project, record.network) == (
        "acme",
        "claude",
        "/src/app",
        "filtered",
    )
    assert record.env == (("HOME", "/home/agent"), ("TOKEN", "s3cret"))
    assert (record.cwd, record.uid, record.gid) == ("/src/app", 1000, 1000)
    assert record.seccomp == b"\x06\x00\x00\x00\x00\x00\xff\x7f"
    assert record.supervisor == ProcessRef(os.getpid(), proc_start_time(os.getpid()) or -1)
    assert record.started.endswith("Z")
    assert record.path == path
    assert "env" not in record.to_json()
    assert Path(path).stat().st_mode & 0o777 == 0o600
    assert Path(registry_dir(runtime)).stat().st_mode & 0o777 == 0o700
    assert not [p for p in Path(registry_dir(runtime)).iterdir() if p.name.startswith(".")]


def test_unregister_removes_the_record_and_the_emptied_dir(runtime: str) -> None:
    first = _register(runtime, "aaaa00000001")
    second = _register(runtime, "aaaa00000002")
    unregister(first)
    assert Path(registry_dir(runtime)).is_dir()
    unregister(second)
    unregister(second)  # twice is fine
    assert not Path(registry_dir(runtime)).exists()
    assert list_sessions(runtime) == []


def test_prefixes(runtime: str) -> None:
    _register(runtime, "abcd00000001")
    _register(runtime, "abce00000002")
    assert find_session("abcd", runtime).id == "abcd00000001"
    assert find_session("abce00000002", runtime).id == "abce00000002"
    with pytest.raises(LaunchError, match="ambiguous"):
        find_session("abc", runtime)
    with pytest.raises(LaunchError, match="no running sandbox"):
        find_session("ffff", runtime)
    with pytest.raises(LaunchError, match="no running sandbox"):
        find_session("", runtime)


def test_dead_and_reused_pids_are_stale_and_pruned(runtime: str) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = _register(runtime, "aaaa00000001")
    gone = _register(runtime, "aaaa00000002")
    reused = _register(runtime, "aaaa00000003")
    for path, supervisor in (
        (gone, {"pid": dead.pid, "start": 1}),
        (reused, {"pid": 1, "start": 1}),
    ):
        raw = json.loads(Path(path).read_text())
        raw["supervisor"] = supervisor
        Path(path).write_text(json.dumps(raw))
    assert [r.id for r in list_sessions(runtime)] == ["aaaa00000001"]
    assert Path(live).exists()
    assert not Path(gone).exists()
    assert not Path(reused).exists()


def test_malformed_foreign_and_renamed_records_are_ignored(runtime: str) -> None:
    directory = Path(registry_dir(runtime))
    _register(runtime, "aaaa00000001")
    (directory / "bbbb00000002.json").write_text("{not json")
    (directory / "cccc00000003.json").write_text(json.dumps({"version": 1, "id": "cccc00000003"}))
    good = json.loads((directory / "aaaa00000001.json").read_text())
    (directory / "dddd00000004.json").write_text(json.dumps(good))  # id does not match the name
    (directory / "notes.txt").write_text("ignored")
    assert [r.id for r in list_sessions(runtime, prune=False)] == ["aaaa00000001"]
    assert SessionRecord.from_json({"id": "x"}) is None


def test_a_record_in_a_shared_dir_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "agent-sandbox").mkdir(mode=0o777)
    (shared / "agent-sandbox").chmod(0o777)
    with pytest.raises(WorkspaceError, match="cannot register"):
        _register(str(shared), "aaaa00000001")
    assert list_sessions(str(shared)) == []


def test_runtime_dir_follows_the_probe(tmp_path: Path) -> None:
    private = tmp_path / "xdg"
    private.mkdir(mode=0o700)
    assert runtime_dir({"XDG_RUNTIME_DIR": str(private)}) == str(private)
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    loose.chmod(0o755)
    fallback = runtime_dir({"XDG_RUNTIME_DIR": str(loose), "TMPDIR": str(tmp_path)})
    assert fallback == probe_host(environ={"XDG_RUNTIME_DIR": str(loose)}).runtime_dir
    assert not fallback.startswith(str(tmp_path)), "$TMPDIR is not where the runtime dir goes"


def test_verify_checks_the_process_chain(runtime: str) -> None:
    _register(runtime, "aaaa00000001")
    (record,) = list_sessions(runtime)
    with pytest.raises(LaunchError, match="no longer running"):
        record.verify()  # bwrap's parent is not the supervisor: the chain is broken


def test_lowest_rlimit() -> None:
    infinity = resource.RLIM_INFINITY
    assert _lowest(infinity, 5) == 5
    assert _lowest(5, infinity) == 5
    assert _lowest(infinity, infinity) == infinity
    assert _lowest(3, 5) == 3


def test_registering_prunes_records_of_killed_supervisors(runtime: str) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = _register(runtime, "aaaa00000001")
    raw = json.loads(Path(stale).read_text())
    raw["supervisor"] = {"pid": dead.pid, "start": 1}
    Path(stale).write_text(json.dumps(raw))
    live = _register(runtime, "aaaa00000002")
    assert not Path(stale).exists()
    unregister(live)
    assert not Path(registry_dir(runtime)).exists(), "nothing left behind"
