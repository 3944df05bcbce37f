"""Every path function terminates and normalizes, whatever the shape of the path (issue 10.3).

``cd / && agent-sandbox run`` once hung at 100 % CPU: ``normpath("//.envrc")`` keeps the
``//`` (POSIX allows it), and ``while path != "/"`` in ``paths_to_probe`` never ended. The
shapes generated here: ``//`` and ``///`` anywhere, trailing slashes, ``.`` and ``..``,
non-UTF-8 bytes (as Python's surrogate escapes), relative paths, and symlinks (to ``/``, to
``..``, to themselves, in a loop) under a real directory. Each function runs under an alarm,
so a hang fails the test instead of stalling the suite.

Covered: ``_paths.normalize``, ``runtime_dir_path``; ``_guard.project_refusal``, ``check_project``;
the compiler's ``paths_to_probe`` and ``compile_plan`` with such a project; the runtime's
``sandbox_lookup``; the library's ``build_overlay`` (``--ro``/``--rw`` sources); the work-dir
removal's path split (``remove_workdir`` on a missing path); the agents' ``search_dirs`` (HOME,
npm prefix); policy references by path (``load_policy``). Not covered here: paths that come
from git's own output (worktrees, the nested-repo scan) and ``agent_sandbox_argv`` (argv[0]).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bwsandbox import _guard, _paths
from bwsandbox._api import build_overlay
from bwsandbox._errors import SandboxError, WorkspaceError
from bwsandbox.compile import Workspace, compile_plan, paths_to_probe
from bwsandbox.compile._facts import PathKind
from bwsandbox.compile._plan import MountEntry, MountKind
from bwsandbox.policy import load_policy
from bwsandbox.runtime._resolve import sandbox_lookup
from bwsandbox.runtime._workdir import remove_workdir
from bwsandbox.testing import fake_host_facts

T = TypeVar("T")

#: a symlink playground: made once, read by every example
_PLAY = Path(tempfile.mkdtemp(prefix="bwsandbox-shapes-"))
(_PLAY / "dir" / "sub").mkdir(parents=True)
for _name, _target in {
    "to-root": "/",
    "to-parent": "..",
    "self": "self",
    "loop-a": "loop-b",
    "loop-b": "loop-a",
    "to-dir": "dir//sub/",
    "dangling": "missing/x",
}.items():
    (_PLAY / _name).symlink_to(_target)

_PARTS = st.sampled_from(
    [
        "",
        ".",
        "..",
        "a",
        "dir",
        "sub",
        "é",
        "\udcff\udcfe",
        ".envrc",
        *(p.name for p in _PLAY.iterdir()),
    ]
)
_SEPARATORS = st.sampled_from(["/", "//", "///"])


@st.composite
def path_shapes(draw: st.DrawFn) -> str:
    """A path made of odd parts, odd separators, maybe under the symlink playground."""
    parts = draw(st.lists(_PARTS, max_size=6))
    path = ""
    for part in parts:
        path += draw(_SEPARATORS) + part
    lead = draw(st.sampled_from(["", "/", "//", "///", str(_PLAY) + "/", str(_PLAY) + "//"]))
    path = lead + path.lstrip("/") if lead else path
    if draw(st.booleans()):
        path += draw(_SEPARATORS)
    return path or draw(st.sampled_from(["/", "//", ".", ""]))


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise TimeoutError("a path function did not terminate")


@contextmanager
def _deadline(seconds: float = 2.0) -> Iterator[None]:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _bounded(function: Callable[[], T]) -> T:
    with _deadline():
        return function()


def _normalized(path: str) -> bool:
    """No empty, ``.`` or ``..`` component (absolute), no trailing slash, no leading ``//``."""
    if path == "/":
        return True
    if not path.startswith("/") or path.startswith("//") or path.endswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in path[1:].split("/"))


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(path_shapes())
def test_normalize(path: str) -> None:
    result = _bounded(lambda: _paths.normalize(path))
    assert result == _paths.normalize(result), "a fixed point"
    if path.startswith("/"):
        assert _normalized(result), (path, result)
        assert posixpath.normpath(result) == result


@SETTINGS
@given(path_shapes())
def test_the_project_guard(path: str) -> None:
    absolute = path if path.startswith("/") else "/" + path
    reason = _bounded(lambda: _guard.project_refusal(absolute))
    assert reason is None or reason.startswith("the project ")
    refused: list[WorkspaceError] = []
    try:
        real = _bounded(lambda: _guard.check_project(path or "."))
    except WorkspaceError as exc:
        refused.append(exc)
    if refused:
        assert str(refused[0]).startswith("the project"), refused
    else:
        assert _normalized(real), (path, real)
        assert real != "/"
        assert Path(real).is_dir()


@pytest.mark.parametrize("root", ["/", "//", "///", "/.", "/..", "//..//", "/./"])
def test_the_root_in_any_spelling_is_refused(root: str) -> None:
    with pytest.raises(WorkspaceError, match="root directory"):
        _bounded(lambda: _guard.check_project(root))


def test_the_runtime_dir_path_is_normalized(monkeypatch: pytest.MonkeyPatch) -> None:
    for shape in ("//run//x/", "relative", "", "/nonexistent/"):
        monkeypatch.setenv("XDG_RUNTIME_DIR", shape)
        assert _normalized(_bounded(_paths.runtime_dir_path))


_FACTS = fake_host_facts(environ={"TERM": "xterm"}, paths={"/usr": PathKind.DIR})
_POLICY = load_policy(("base",))


@SETTINGS
@given(path_shapes())
@example("/").via("cd / && agent-sandbox run: once a hang")
@example("//")
@example("relative")
def test_the_compiler_terminates_on_any_project(path: str) -> None:
    """What the guard keeps away must still not hang the compiler (explain, the library)."""
    workspace = Workspace(project=path, workdir="/tmp/w", session_id="s", command=("true",))
    probed = _bounded(lambda: paths_to_probe(_POLICY, _FACTS, workspace))
    if _normalized(path) and path != "/":  # what the guard lets through: all normalized
        assert all(_normalized(p) for p in probed), probed
    with contextlib.suppress(SandboxError):  # a clear refusal is fine; a hang or crash is not
        _bounded(lambda: compile_plan(_POLICY, _FACTS, workspace))


_MOUNTS = (
    MountEntry(dest="/", kind=MountKind.TMPFS, src=""),
    MountEntry(dest="/usr", kind=MountKind.RO, src="/usr"),
    MountEntry(dest="/play", kind=MountKind.RO, src=str(_PLAY)),
    MountEntry(dest="/bin", kind=MountKind.SYMLINK, src="usr/bin"),
)


@SETTINGS
@given(path_shapes())
def test_sandbox_lookup_terminates(path: str) -> None:
    absolute = "/" + path.lstrip("/")
    inside = absolute.replace(str(_PLAY), "/play")
    kind, _host = _bounded(lambda: sandbox_lookup(_MOUNTS, inside))
    assert kind is not None


@SETTINGS
@given(path_shapes())
def test_overlay_bind_sources_are_absolute_and_normalized(path: str) -> None:
    if not path:
        return
    overlay = _bounded(lambda: build_overlay(ro=(path,), rw=(path,)))
    filesystem = overlay["filesystem"]
    assert isinstance(filesystem, dict)
    for bind in (*filesystem["ro"], *filesystem["rw"]):
        source = bind["src"].replace("{{", "{").replace("}}", "}")
        assert _normalized(source), (path, source)


@SETTINGS
@given(path_shapes())
def test_removing_a_missing_work_dir_terminates(path: str) -> None:
    missing = "/nonexistent-bwsandbox/" + path.lstrip("/")
    _bounded(lambda: remove_workdir(missing))


def test_under_sudo_the_callers_home_is_refused_too(tmp_path: Path) -> None:
    """``sudo agent-sandbox run`` from the user's home: that home is refused like $HOME."""
    import pwd

    other = next(
        (e for e in pwd.getpwall() if e.pw_uid != os.getuid() and Path(e.pw_dir).is_dir()), None
    )
    if other is None or other.pw_dir in ("/", ""):
        pytest.skip("no other account with a home dir here")
    env = {"HOME": str(tmp_path), "SUDO_UID": str(other.pw_uid)}
    assert _guard.project_refusal(other.pw_dir, env) is not None
    assert _guard.project_refusal(other.pw_dir, {"HOME": str(tmp_path)}) is None, "control"


@SETTINGS
@given(path_shapes(), path_shapes())
def test_agent_search_dirs_terminate(home: str, prefix: str) -> None:
    from bwsandbox.agents._discover import search_dirs
    from bwsandbox.agents._prepare import agent_spec

    environ = {"HOME": home, "NPM_CONFIG_PREFIX": prefix, "PATH": f"{prefix}:{home}"}
    dirs = _bounded(lambda: search_dirs(agent_spec("claude"), environ))
    assert all(posixpath.normpath(d) == d for d in dirs), dirs


@SETTINGS
@given(path_shapes())
def test_policy_references_terminate(ref: str) -> None:
    """A policy named by a path of any shape loads or is refused (PolicyError), never hangs."""
    with contextlib.suppress(SandboxError):
        _bounded(lambda: load_policy((ref + ".toml",)))
