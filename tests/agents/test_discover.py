"""Finding agent binaries on the host, and what gets bound for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bwsandbox._errors import DependencyError
from bwsandbox.agents._discover import find_agent, search_dirs, visible_in_sandbox
from bwsandbox.agents._specs import AGENT_SPECS

from .conftest import FakeHost

CLAUDE = AGENT_SPECS["claude"]
CODEX = AGENT_SPECS["codex"]


def test_missing_agent_says_how_to_install(fake_host: FakeHost) -> None:
    with pytest.raises(DependencyError) as info:
        find_agent(CLAUDE, fake_host.environ)
    text = str(info.value)
    assert "npm install -g @anthropic-ai/claude-code" in text
    assert "BWSANDBOX_AGENT_BIN_CLAUDE" in text


def test_found_on_path_and_symlink_resolved(fake_host: FakeHost) -> None:
    real = fake_host.executable(fake_host.root / "opt" / "claude-2.0" / "claude", "\x7fELF")
    bindir = fake_host.root / "bin"
    bindir.mkdir()
    (bindir / "claude").symlink_to(real)
    fake_host.path_dirs.append(bindir)
    agent = find_agent(CLAUDE, fake_host.environ)
    assert agent.found == str(bindir / "claude")
    assert agent.path == str(real)
    assert agent.interpreter == ""
    # not in an npm package: only the binary itself is bound
    assert agent.binds == (str(real),)


def test_path_wins_over_later_locations(fake_host: FakeHost) -> None:
    first = fake_host.executable(fake_host.root / "first" / "claude", "\x7fELF")
    fake_host.executable(fake_host.home / ".local" / "bin" / "claude", "\x7fELF")
    fake_host.path_dirs.append(first.parent)
    assert find_agent(CLAUDE, fake_host.environ).path == str(first)


@pytest.mark.parametrize(
    "relative",
    [".local/bin", ".npm-global/bin", ".nix-profile/bin"],
)
def test_found_in_user_dirs_not_on_path(fake_host: FakeHost, relative: str) -> None:
    binary = fake_host.executable(fake_host.home / relative / "claude", "\x7fELF")
    assert find_agent(CLAUDE, fake_host.environ).path == str(binary)


def test_found_under_npmrc_prefix(fake_host: FakeHost) -> None:
    prefix = fake_host.root / "npm-prefix"
    (fake_host.home / ".npmrc").write_text(f"fund=false\nprefix = {prefix}\n")
    fake_host.npm_package(
        prefix / "lib" / "node_modules", "@openai/codex", bin_name="codex", bin_path="bin/codex.js"
    )
    fake_host.executable(prefix / "bin" / "node", "\x7fELF")
    (prefix / "bin" / "codex").symlink_to(
        prefix / "lib" / "node_modules" / "@openai" / "codex" / "bin" / "codex.js"
    )
    agent = find_agent(CODEX, fake_host.environ)
    assert agent.found == str(prefix / "bin" / "codex")
    assert agent.path.endswith("/lib/node_modules/@openai/codex/bin/codex.js")
    # node beside the agent in the prefix's bin dir (nvm layout)
    assert agent.interpreter == str(prefix / "bin" / "node")


def test_found_under_npm_config_prefix(fake_host: FakeHost) -> None:
    prefix = fake_host.root / "env-prefix"
    binary = fake_host.executable(prefix / "bin" / "claude", "\x7fELF")
    fake_host.extra["NPM_CONFIG_PREFIX"] = str(prefix)
    assert find_agent(CLAUDE, fake_host.environ).path == str(binary)


def test_nix_per_user_profile_dir_is_searched(fake_host: FakeHost) -> None:
    dirs = search_dirs(CLAUDE, fake_host.environ)
    assert "/etc/profiles/per-user/alice/bin" in dirs
    assert str(fake_host.home / ".nix-profile" / "bin") in dirs


def test_override_variable_wins(fake_host: FakeHost) -> None:
    fake_host.executable(fake_host.home / ".local" / "bin" / "claude", "\x7fELF")
    chosen = fake_host.executable(fake_host.root / "custom" / "my-claude", "\x7fELF")
    fake_host.extra["BWSANDBOX_AGENT_BIN_CLAUDE"] = str(chosen)
    assert find_agent(CLAUDE, fake_host.environ).path == str(chosen)


def test_override_to_a_missing_file_is_an_error(fake_host: FakeHost) -> None:
    fake_host.extra["BWSANDBOX_AGENT_BIN_CLAUDE"] = str(fake_host.root / "nope")
    with pytest.raises(DependencyError, match="BWSANDBOX_AGENT_BIN_CLAUDE"):
        find_agent(CLAUDE, fake_host.environ)


def test_not_executable_is_skipped(fake_host: FakeHost) -> None:
    plain = fake_host.home / ".local" / "bin" / "claude"
    plain.parent.mkdir(parents=True)
    plain.write_text("not executable")
    with pytest.raises(DependencyError):
        find_agent(CLAUDE, fake_host.environ)


def test_hoisted_dependencies_are_bound_not_the_whole_node_modules(fake_host: FakeHost) -> None:
    """A local install (the install-agents cache): the package and its platform package."""
    modules = fake_host.root / "cache" / "node_modules"
    package = fake_host.npm_package(
        modules,
        "@openai/codex",
        bin_name="codex",
        bin_path="bin/codex.js",
        optional={"@openai/codex-linux-x64": "1.0.0", "@openai/codex-darwin-arm64": "1.0.0"},
    )
    platform = modules / "@openai" / "codex-linux-x64"
    platform.mkdir(parents=True)
    (platform / "package.json").write_text('{"name": "@openai/codex-linux-x64"}')
    (modules / "unrelated").mkdir()
    node = fake_host.executable(fake_host.root / "node-dist" / "bin" / "node", "\x7fELF")
    fake_host.path_dirs += [modules / ".bin", node.parent]
    agent = find_agent(CODEX, fake_host.environ)
    assert agent.path == str(package / "bin" / "codex.js")
    assert agent.interpreter == str(node)
    assert set(agent.binds) == {str(package), str(platform), str(node)}


def test_global_layout_binds_the_package_with_its_nested_modules(fake_host: FakeHost) -> None:
    modules = fake_host.root / "prefix" / "lib" / "node_modules"
    package = fake_host.npm_package(
        modules, "@anthropic-ai/claude-code", bin_name="claude", dependencies={"dep": "1"}
    )
    nested = package / "node_modules" / "dep"
    nested.mkdir(parents=True)
    (nested / "package.json").write_text('{"name": "dep"}')
    (modules / "other-tool").mkdir()
    node = fake_host.executable(fake_host.root / "nodebin" / "node", "\x7fELF")
    fake_host.path_dirs += [modules / ".bin", node.parent]
    agent = find_agent(CLAUDE, fake_host.environ)
    assert set(agent.binds) == {str(package), str(node)}


def test_script_needing_a_missing_interpreter_is_an_error(fake_host: FakeHost) -> None:
    modules = fake_host.root / "m" / "node_modules"
    fake_host.npm_package(modules, "@anthropic-ai/claude-code", bin_name="claude")
    fake_host.path_dirs.append(modules / ".bin")
    with pytest.raises(DependencyError, match="node"):
        find_agent(CLAUDE, fake_host.environ)


def test_system_paths_are_not_bound_again() -> None:
    assert visible_in_sandbox("/usr/bin/node")
    assert visible_in_sandbox("/nix/store/abc-claude/bin/claude")
    assert visible_in_sandbox("/etc/profiles/per-user/alice/bin/x", "alice")
    assert not visible_in_sandbox("/usrlocal/bin/x")
    assert not visible_in_sandbox("/home/alice/.local/bin/claude")
    assert not visible_in_sandbox("/var/cache/bwsandbox/agents/node_modules/x")


def test_search_dirs_have_no_duplicates(fake_host: FakeHost, tmp_path: Path) -> None:
    fake_host.path_dirs += [tmp_path / "a", tmp_path / "a", fake_host.home / ".local" / "bin"]
    dirs = search_dirs(CLAUDE, fake_host.environ)
    assert len(dirs) == len(set(dirs))
