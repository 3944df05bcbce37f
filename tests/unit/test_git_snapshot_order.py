"""When the git snapshot may run after bwrap is spawned (while bwrap sets up its mounts):
only when bwrap makes no placeholder the snapshot reads (``runtime._sandbox``)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bwsandbox.compile import PathInfo, PathKind, Workspace, compile_plan
from bwsandbox.policy import load_policy
from bwsandbox.runtime._sandbox import _GIT_READ, _git_placeholders
from bwsandbox.testing import fake_host_facts

PROJECT = "/home/alice/proj"
#: names in a .git that the snapshot does not read (the shipped policies protect some)
_OTHERS = ("hooks", "config", "config.worktree", "worktrees", "info", "logs", "description")


def test_the_shipped_placeholders_in_a_git_project_let_the_snapshot_wait() -> None:
    """A project with a ``.git`` but no hooks or config: bwrap makes those placeholders, which
    the snapshot does not read (control: the plan has placeholders in ``.git``)."""
    git = f"{PROJECT}/.git"
    facts = fake_host_facts(
        paths={
            PROJECT: PathInfo(PathKind.DIR),
            git: PathInfo(PathKind.DIR),
            **{f"{git}/{name}": PathInfo(PathKind.MISSING) for name in _OTHERS[:4]},
        },
    )
    workspace = Workspace(
        project=PROJECT, workdir="/tmp/agent-sandbox-x", session_id="s", command=("true",)
    )
    plan = compile_plan(load_policy(("base",)), facts, workspace)
    assert any(path.startswith(git + "/") for path, _ in plan.placeholders)
    assert not _git_placeholders(plan.placeholders)


@given(
    top=st.sampled_from(["/p", "/p/sub", "/p/.gitx", "/p/.github"]),
    name=st.sampled_from(_GIT_READ + _OTHERS),
    deeper=st.sampled_from(["", "/x", "/x/y/"]),
)
def test_a_placeholder_the_snapshot_reads_means_a_snapshot_first(
    top: str, name: str, deeper: str
) -> None:
    path = f"{top}/.git/{name}{deeper}"
    assert _git_placeholders([(path, "dir")]) is (name in _GIT_READ)
    assert _git_placeholders([(f"{top}/.git", "dir")])  # a .git itself
    assert not _git_placeholders([(f"{top}/{name}{deeper}", "dir")])  # not in a .git
