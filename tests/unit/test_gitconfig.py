"""The host git config reader and the sandbox's generated git files, with git as the oracle.

- ``parse_config`` agrees with ``git config --file F --get`` on generated config texts, and
  refuses what git refuses;
- ``gitconfig`` renders any identity git can hold so that git reads back exactly that value and
  nothing else (no value can open a new line or a new section);
- ``ignore_pattern`` matches exactly its path (``git check-ignore``), whatever the name holds;
- ``probe_git`` follows git's file order, ``GIT_CONFIG_GLOBAL`` and ``[include]``, and keeps
  only the identity and the ignore patterns.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bwsandbox._errors import PolicyError
from bwsandbox.compile import HostFacts, Workspace, compile_plan
from bwsandbox.compile._facts import GitFacts
from bwsandbox.compile._git import (
    GITCONFIG,
    GITIGNORE,
    gitconfig,
    ignore_file,
    ignore_pattern,
    refusal,
)
from bwsandbox.policy import load_policy
from bwsandbox.runtime._gitconfig import parse_config, probe_git
from bwsandbox.testing import fake_host_facts

GIT = shutil.which("git")
needs_git = pytest.mark.skipif(GIT is None, reason="git is not installed")
_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _git_get(path: Path, key: str) -> tuple[int, str]:
    assert GIT is not None
    done = subprocess.run(
        [GIT, "config", "--file", str(path), "--get", key],
        capture_output=True,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(path.parent)},
    )
    return done.returncode, done.stdout.decode("utf-8", "surrogateescape").removesuffix("\n")


# pieces of config text, plausible and odd: quoting, escapes, comments, continuations
_value_piece = st.sampled_from(
    [
        "Ada",
        " ",
        "\t",
        '"',
        '\\"',
        "\\\\",
        "\\t",
        "\\n",
        "\\q",
        "#",
        ";",
        "\\\n",
        "é",
        "a b",
        "=",
        "[",
        "]",
    ]
)
_value = st.lists(_value_piece, max_size=8).map("".join)
_line = st.one_of(
    st.builds(lambda v: f"\tname = {v}", _value),
    st.builds(lambda v: f"email={v}", _value),
    st.builds(lambda v: f"NAME = {v}", _value),
    st.just("name"),
    st.just("# a comment"),
    st.just("; another"),
    st.just("[user]"),
    st.just('[user "sub"]'),
    st.just("[core]"),
    st.just("[user] name = inline"),
    st.just("bad line"),
    st.just(""),
)
_config = st.lists(_line, max_size=6).map(lambda lines: "[user]\n" + "\n".join(lines) + "\n")


@needs_git
@_SETTINGS
@given(text=_config)
def test_parser_agrees_with_git(tmp_path: Path, text: str) -> None:
    path = tmp_path / "config"
    path.write_text(text, encoding="utf-8")
    name_status, name = _git_get(path, "user.name")
    try:
        entries = parse_config(text)
    except ValueError:
        assert name_status not in (0, 1), f"git accepts {text!r}"
        return
    assert name_status in (0, 1), f"git refuses {text!r}, the reader accepted it"
    values = [value for key, value in entries if key == "user.name"]
    if name_status == 1:
        assert values == [], text
    else:
        assert (values[-1] or "") == name, text


@needs_git
@_SETTINGS
@given(
    name=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40),
    email=st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), max_size=40),
)
def test_generated_gitconfig_holds_exactly_the_identity(
    tmp_path: Path, name: str, email: str
) -> None:
    path = tmp_path / "gitconfig"
    path.write_bytes(gitconfig(name, email))
    assert GIT is not None
    listed = subprocess.run(
        [GIT, "config", "--file", str(path), "--null", "--list"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    items = [item.split("\n", 1) for item in listed.split("\0") if item]
    expected = [["user.name", name]] if name else []
    expected += [["user.email", email]] if email else []
    assert items == expected


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "tab\there", "nul\0", "del\x7f", "esc\x1b["])
def test_control_characters_are_refused(value: str) -> None:
    assert refusal("user.name", value) is not None
    with pytest.raises(ValueError, match="control"):
        gitconfig(value, "")  # the renderer refuses them too, whoever calls it


def test_long_values_are_refused() -> None:
    assert refusal("user.name", "x" * 600) is not None
    assert refusal("user.name", "Ada Lovelace") is None


_name = st.text(
    st.characters(
        codec="utf-8", exclude_characters="/\0\n\r", categories=("L", "M", "N", "P", "S", "Z")
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", "..", ".git"))


@needs_git
@_SETTINGS
@given(name=_name, other=_name)
def test_ignore_patterns_match_exactly_their_path(tmp_path: Path, name: str, other: str) -> None:
    top = tmp_path / "repo"
    top.mkdir(exist_ok=True)
    pattern = ignore_pattern(str(top / name), str(top), is_dir=False)
    assert pattern is not None
    excludes = tmp_path / "ignore"
    excludes.write_text(pattern + "\n", encoding="utf-8")
    assert GIT is not None

    def ignored(relative: str) -> bool:
        done = subprocess.run(
            [
                GIT,
                "-c",
                f"core.excludesFile={excludes}",
                "check-ignore",
                "--no-index",
                "-q",
                "./" + relative,  # never read as pathspec magic (":...")
            ],
            cwd=top,
            check=False,
            capture_output=True,
        )
        return done.returncode == 0

    if not (top / ".git").exists():
        subprocess.run([GIT, "init", "-q", str(top)], check=True)
    assert ignored(name), pattern
    if other != name:
        assert not ignored(other), (pattern, other)
    assert not ignored(f"sub/{name}"), pattern  # anchored at the top


def test_ignore_file_puts_the_placeholders_after_the_host_patterns() -> None:
    content = ignore_file(
        [("/p/.envrc", "file"), ("/p/.vscode", "dir"), ("/p/.git/worktrees", "dir")],
        "/p",
        b"*.swp\n!.envrc",
    )
    lines = content.decode().splitlines()
    assert lines[:2] == ["*.swp", "!.envrc"]
    assert lines[-2:] == ["/.envrc", "/.vscode/"]  # .git's own placeholders need none


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_probe_follows_gits_file_order_and_includes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / ".config/git/config", "[user]\n\tname = from xdg\n\temail = xdg@x\n")
    _write(
        home / ".gitconfig",
        "[user]\n\tname = from home\n[include]\n\tpath = ~/.gitconfig.local\n"
        '[includeIf "gitdir:/"]\n\tpath = /nonexistent\n[alias]\n\tx = !evil\n'
        "[core]\n\texcludesFile = ~/ignore\n\tfsmonitor = evil\n",
    )
    _write(home / ".gitconfig.local", "[user]\n\temail = local@x\n")
    _write(home / "ignore", "*.swp\n")
    facts = probe_git({"HOME": str(home)}, "/nonexistent")
    assert (facts.name, facts.email, facts.excludes) == ("from home", "local@x", b"*.swp\n")
    assert str(home / ".gitconfig.local") in facts.sources
    assert str(home / "ignore") in facts.sources
    # GIT_CONFIG_GLOBAL replaces both files, as in git
    only = _write(tmp_path / "only", "[user]\n\tname = only\n")
    facts = probe_git({"HOME": str(home), "GIT_CONFIG_GLOBAL": str(only)}, "")
    assert (facts.name, facts.email) == ("only", "")
    # the default ignore file is $XDG_CONFIG_HOME/git/ignore
    _write(tmp_path / "xdg/git/ignore", "node_modules/\n")
    facts = probe_git(
        {"HOME": str(tmp_path / "none"), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}, ""
    )
    assert facts.excludes == b"node_modules/\n"


def test_probe_refuses_control_characters(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / ".gitconfig", '[user]\n\tname = "two\\nlines"\n\temail = ok@x\n')
    facts = probe_git({"HOME": str(home)}, "")
    assert (facts.name, facts.email) == ("", "ok@x")
    assert facts.refused
    assert "control character" in facts.refused[0]


def test_probe_of_a_broken_file_gives_nothing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _write(home / ".gitconfig", "[user\n\tname = x\n")
    assert probe_git({"HOME": str(home)}, "") == GitFacts(
        sources=(
            str(home / ".config/git/config"),
            str(home / ".gitconfig"),
            str(home / ".config/git/ignore"),
        ),
    )


def _facts(git: GitFacts) -> HostFacts:
    return fake_host_facts(git=git)


@pytest.mark.parametrize("identity", [True, False])
def test_compiled_plan_carries_the_identity_only_when_switched_on(identity: bool) -> None:
    overlay = {"git": {"identity": identity, "excludes": False}}
    policy = load_policy(("base",), overlays=[("test", overlay)])
    workspace = Workspace(project="/p", workdir="/w", session_id="s", command=("true",))
    git = GitFacts(name="Ada", email="ada@x", refused=("the host's git user.name ...",))
    plan = compile_plan(policy, _facts(git), workspace)
    env = dict(plan.env)
    data = {item.fd.name: item.content for item in plan.data}
    if identity:
        assert env["GIT_CONFIG_SYSTEM"] == GITCONFIG
        assert b'name = "Ada"' in data["data:gitconfig"]
        assert "the host's git user.name ..." in plan.warnings
    else:
        assert "GIT_CONFIG_SYSTEM" not in env
        assert "data:gitconfig" not in data
    # nothing to ignore (no placeholders here, host patterns off): no ignore file
    assert "GIT_CONFIG_VALUE_0" not in env
    assert GITIGNORE not in {entry.dest for entry in plan.mounts}


def test_compile_never_writes_an_unsafe_value_it_is_given() -> None:
    """HostFacts built by hand (a library caller) with a newline in the name: not written."""
    policy = load_policy(("base",))
    workspace = Workspace(project="/p", workdir="/w", session_id="s", command=("true",))
    facts = _facts(GitFacts(name="x\n[core]\n\tfsmonitor = evil", email="ok@x"))
    data = {item.fd.name: item.content for item in compile_plan(policy, facts, workspace).data}
    assert data["data:gitconfig"].count(b"=") == 1
    assert b"fsmonitor" not in data["data:gitconfig"]


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ({"git": {"identity": "yes"}}, ["git.identity", "true or false"]),
        ({"git": {"identiy": True}}, ["git.identiy", "identity"]),
    ],
)
def test_the_git_switches_are_validated(layer: dict[str, object], words: list[str]) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(("base",), overlays=[("test", layer)])
    for word in words:
        assert word in str(caught.value)
