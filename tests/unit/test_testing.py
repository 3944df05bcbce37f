"""``bwsandbox.testing`` (public test helpers) and the compiler's steps it serves.

- fake host facts build what the compiler needs, for a user and for root;
- the package stays off the CLI's start-up path: no module but the pytest plugin imports it;
- every mount is stated once: the plan's mount table is exactly its mount options' entries;
- the rarely needed compiler steps (seccomp tables, GPUs, secrets) load only when asked for.
"""

from __future__ import annotations

import ast
import gc
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bwsandbox
import bwsandbox.testing
from bwsandbox.compile import PathInfo, PathKind, Workspace, compile_plan
from bwsandbox.compile._options import MountEntry, MountOption
from bwsandbox.policy import load_policy
from bwsandbox.testing import fake_host_facts

PACKAGE = Path(bwsandbox.__file__).parent


def test_fake_host_facts_for_a_user_and_for_root() -> None:
    user = fake_host_facts(paths={"/usr": PathKind.DIR, "/bin": PathInfo(PathKind.SYMLINK, "x")})
    assert (user.uid, user.gid, user.user, user.home) == (1000, 1000, "alice", "/home/alice")
    assert user.runtime_dir == "/run/user/1000"
    assert user.path("/usr") == PathInfo(PathKind.DIR)
    assert user.path("/bin") == PathInfo(PathKind.SYMLINK, "x")
    assert user.path("/etc") is None  # not probed
    root = fake_host_facts(root=True, environ={"TERM": "xterm"})
    assert root.is_root
    assert (root.user, root.home, root.runtime_dir) == ("root", "/root", "/run/user/0")
    assert dict(root.environ) == {"TERM": "xterm"}


def test_every_public_name_resolves() -> None:
    assert sorted(dir(bwsandbox.testing)) == sorted(bwsandbox.testing.__all__)
    for name in bwsandbox.testing.__all__:
        assert getattr(bwsandbox.testing, name) is not None, name


def _imports_testing(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bwsandbox.testing"):
            return True
        if isinstance(node, ast.Import) and any(
            a.name.startswith("bwsandbox.testing") for a in node.names
        ):
            return True
    return False


def test_only_the_pytest_plugin_imports_the_testing_package() -> None:
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if not path.is_relative_to(PACKAGE / "testing") and _imports_testing(path)
    }
    assert importers == {"pytest_plugin.py"}
    # the control: the scan does see an import of it
    assert _imports_testing(Path(__file__))


def _plan_modules(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(out.stdout.split())


_COMPILE = """
from bwsandbox.compile import Workspace, compile_plan
from bwsandbox.policy import load_policy
from bwsandbox.testing import fake_host_facts
policy = load_policy(("base",), overlays=[("t", {{"seccomp": {seccomp}}})])
workspace = Workspace(project="/p", workdir="/w", session_id="s", command=("true",))
compile_plan(policy, fake_host_facts(), workspace)
"""
_HEAVY = {"bwsandbox.compile._seccomp", "bwsandbox.policy._syscalls"}
_RARE = {"bwsandbox.compile._gpu", "bwsandbox.compile._secrets"}


def test_rarely_needed_steps_load_only_when_asked_for() -> None:
    plain = _plan_modules(_COMPILE.format(seccomp={"enabled": False}))
    assert "bwsandbox.compile._compiler" in plain
    assert not (plain & (_HEAVY | _RARE)), plain & (_HEAVY | _RARE)
    assert "bwsandbox.testing._launch" not in plain  # fake facts alone stay light
    # the shipped policies' filters are stored (compile/_seccomp_shipped.py)
    shipped = _plan_modules(_COMPILE.format(seccomp={"enabled": True}))
    assert not (shipped & _HEAVY), shipped & _HEAVY
    with_seccomp = _plan_modules(_COMPILE.format(seccomp={"enabled": True, "deny": ["uname"]}))
    assert with_seccomp >= _HEAVY  # the control: the step does load them when asked


_SHIPPED = ["base", "claude", "codex", "browser"]


@pytest.mark.parametrize("name", _SHIPPED)
@pytest.mark.parametrize("root", [False, True])
def test_the_mount_table_is_exactly_the_mount_options_entries(name: str, root: bool) -> None:
    paths = {"/usr": PathInfo(PathKind.DIR), "/bin": PathInfo(PathKind.SYMLINK, "usr/bin")}
    facts = fake_host_facts(root=root, paths={**paths, "/p": PathInfo(PathKind.DIR)})
    workspace = Workspace(project="/p", workdir="/w", session_id="s", command=("true",))
    plan = compile_plan(load_policy((name,)), facts, workspace)
    mounts = [o for o in plan.options if isinstance(o, MountOption)]
    entries = tuple(e for o in mounts if (e := o.entry()) is not None)
    assert plan.mounts == entries
    assert [e.dest for e in entries] == [o.dest for o in mounts if o.entry() is not None]
    # parents before children: bwrap applies mounts in order
    depths = [0 if o.dest == "/" else o.dest.count("/") for o in mounts]
    assert depths == sorted(depths)


def _mount_options() -> list[type[MountOption]]:
    from bwsandbox.compile import _gpu, _options  # noqa: F401 (every subclass defined)

    # the classes @record replaced are still subclasses until the cyclic collector frees
    # them (this test failed alone, on main too, when no collection had run since import)
    gc.collect()
    found: list[type[MountOption]] = []
    todo = list(MountOption.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


_PATH = st.from_regex(r"/[a-z]{1,5}(/[a-z.]{1,5}){0,3}", fullmatch=True)


@given(st.sampled_from(_mount_options()), st.data())
def test_each_mount_option_states_its_own_entry_at_its_dest(
    cls: type[MountOption], data: st.DataObject
) -> None:
    dest = data.draw(_PATH)
    fields = getattr(cls, "__dataclass_fields__")  # noqa: B009
    kwargs: dict[str, object] = {"dest": dest}
    for name in fields:
        if name in ("src", "target"):
            kwargs[name] = data.draw(_PATH)
        elif name == "fd":
            from bwsandbox.compile._options import FdRef

            kwargs[name] = FdRef("data:x")
        elif name == "readonly":
            kwargs[name] = data.draw(st.booleans())
    option = cls(**kwargs)
    entry = option.entry()
    rendered = option.render()
    assert dest == rendered[-1]  # bwrap's DEST is the last argument
    if entry is not None:
        assert isinstance(entry, MountEntry)
        assert entry.dest == dest
        assert entry.src in ("", kwargs.get("src"), kwargs.get("target"))
