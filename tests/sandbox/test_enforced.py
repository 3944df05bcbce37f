"""The admin-enforced layer through the real CLI: conflicts, what it hides, unsafe files.

The enforced file used here is named by the test seam ``AGENT_SANDBOX_ENFORCED``, which
adds one more enforced layer after ``/etc/agent-sandbox/enforced.toml`` (never instead of
it) and is checked like it: root-owned, not writable by group or others, nor are the
directories above it. So the tests that need an enforced layer to *count* run as root (the
file they write is root's); as an ordinary user, the same file is the user's own, and must
be refused. This machine's real /etc is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from bwsandbox._errors import PolicyError
from bwsandbox.policy import _enforced
from bwsandbox.policy._enforced import EXTRA_VAR, enforced_deps
from tests.conftest import Cli, CliResult

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

EnforcedFile = Callable[[str], Path]


@pytest.fixture
def enforced_file(tmp_path: Path) -> EnforcedFile:
    directory = tmp_path / "etc-agent-sandbox"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)

    def make(text: str) -> Path:
        path = directory / "enforced.toml"
        path.write_text(text)
        path.chmod(0o644)
        return path

    return make


def one_error(result: CliResult) -> str:
    assert result.returncode == 125, result.describe()
    assert result.stdout == "", result.describe()
    assert len(result.stderr.splitlines()) == 1, result.describe()
    return result.error_lines[0]


# -- as root: the enforced layer counts --------------------------------------------------------
@pytest.mark.root
def test_a_loosening_flag_is_one_error_naming_file_and_key(
    cli: Cli, enforced_file: EnforcedFile
) -> None:
    path = enforced_file('[network]\nmode = "filtered"\n')
    result = cli("run", "--network", "host", "--", "true", env={EXTRA_VAR: str(path)})
    assert one_error(result) == (
        f'error: {path}: network.mode = "filtered" is enforced; --network host would loosen it'
    )
    # control: the same command line without the enforced layer runs
    assert cli("run", "--network", "host", "--", "true").returncode == 0


@pytest.mark.root
def test_a_loosening_user_policy_is_refused(
    cli: Cli, enforced_file: EnforcedFile, tmp_path: Path
) -> None:
    path = enforced_file("[hardening]\nnested_userns = false\n")
    mine = tmp_path / "nest.toml"
    mine.write_text('extends = ["base"]\n[hardening]\nnested_userns = true\n')
    result = cli("run", "--policy", str(mine), "--", "true", env={EXTRA_VAR: str(path)})
    line = one_error(result)
    assert "hardening.nested_userns = false is enforced" in line
    assert f"in {mine} would loosen it" in line
    assert cli("run", "--policy", str(mine), "--", "true").returncode == 0


@pytest.mark.root
def test_an_enforced_mask_hides_a_secret_under_a_user_bind(
    cli: Cli, enforced_file: EnforcedFile, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    (data / "secret").mkdir(parents=True)
    (data / "secret" / "key").write_text("TOP-SECRET\n")
    path = enforced_file(f'[filesystem]\nmask = ["{data}/secret"]\n')
    env = {EXTRA_VAR: str(path)}
    read = f"cat {data}/secret/key || echo hidden"
    # the attack: bind the parent read-only and read the secret
    attacked = cli("run", "--ro", str(data), "--", "sh", "-c", read, env=env)
    assert attacked.returncode == 0, attacked.describe()
    assert "TOP-SECRET" not in attacked.stdout
    assert "hidden" in attacked.stdout
    # binding the secret itself is a conflict, not a silent mask
    line = one_error(cli("run", "--ro", f"{data}/secret", "--", "true", env=env))
    assert f'filesystem.mask "{data}/secret" is enforced; --ro {data}/secret' in line
    # control: without the enforced layer the same bind reads it
    control = cli("run", "--ro", str(data), "--", "sh", "-c", read)
    assert "TOP-SECRET" in control.stdout, control.describe()


@pytest.mark.root
def test_the_seam_cannot_replace_the_system_file(
    enforced_file: EnforcedFile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weaker file named by the seam adds nothing: the system file still applies."""
    from bwsandbox._api import COMMAND_LINE, build_overlay
    from bwsandbox.policy import load_policy

    system = enforced_file('[network]\nmode = "none"\n')
    weaker_dir = tmp_path / "weaker"
    weaker_dir.mkdir(mode=0o755)
    weaker = weaker_dir / "enforced.toml"
    weaker.write_text('[network]\nmode = "host"\n')
    monkeypatch.setattr(_enforced, "ENFORCED_PATH", str(system))
    monkeypatch.setenv(EXTRA_VAR, str(weaker))
    overlay = [(COMMAND_LINE, build_overlay(network="host"))]
    with pytest.raises(PolicyError, match=r'network\.mode = "none" is enforced') as info:
        load_policy(["base"], overlays=overlay)
    assert info.value.file == str(system)
    # and the seam's stricter file counts on top of a laxer system file
    monkeypatch.setattr(_enforced, "ENFORCED_PATH", str(weaker))
    monkeypatch.setenv(EXTRA_VAR, str(system))
    with pytest.raises(PolicyError, match=r'network\.mode = "none" is enforced'):
        load_policy(["base"], overlays=overlay)


@pytest.mark.root
@pytest.mark.parametrize(
    "unsafe", ["group-writable", "other-writable", "not-root", "open-dir", "symlink"]
)
def test_an_unsafe_enforced_file_stops_the_launch(
    cli: Cli, enforced_file: EnforcedFile, tmp_path: Path, unsafe: str
) -> None:
    path = enforced_file('[network]\nmode = "none"\n')
    named = path
    if unsafe == "group-writable":
        path.chmod(0o664)
    elif unsafe == "other-writable":
        path.chmod(0o646)
    elif unsafe == "not-root":
        os.chown(path, 65534, 65534)
    elif unsafe == "open-dir":
        path.parent.chmod(0o777)
    else:
        named = tmp_path / "link.toml"
        named.symlink_to(path)
    line = one_error(cli("run", "--", "true", env={EXTRA_VAR: str(named)}))
    assert f"error: {named}: " in line
    assert "enforced policy" in line


@pytest.mark.root
@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("[network\n", "invalid TOML"),
        ('[network]\nmod = "none"\n', "did you mean 'mode'"),
        ('[filesystem]\nrw = ["/"]\n', "filesystem.rw cannot be enforced"),
        ("[hardening]\nnested_userns = true\n", "would loosen, not restrict"),
        ('extends = ["base"]\n', "cannot extend"),
    ],
)
def test_an_invalid_enforced_file_stops_the_launch(
    cli: Cli, enforced_file: EnforcedFile, text: str, mentions: str
) -> None:
    path = enforced_file(text)
    line = one_error(cli("run", "--", "true", env={EXTRA_VAR: str(path)}))
    assert str(path) in line
    assert mentions in line


@pytest.mark.root
def test_explain_shows_the_enforced_layer(cli: Cli, enforced_file: EnforcedFile) -> None:
    path = enforced_file('description = "corp"\n[limits]\npids = 500\n')
    result = cli("explain", "--", "true", env={EXTRA_VAR: str(path)})
    assert result.returncode == 0, result.describe()
    assert f"#   {path}  (enforced by the admin: applied last, cannot be loosened)" in (
        result.stdout
    )
    assert "pids = 500" in result.stdout


@pytest.mark.root
def test_an_edited_enforced_file_is_a_plan_cache_miss(
    cli: Cli, enforced_file: EnforcedFile, project: Path
) -> None:
    (project / "sub").mkdir()
    (project / "sub" / "file").write_text("visible\n")
    path = enforced_file("[hardening]\nnested_userns = false\n")
    env = {EXTRA_VAR: str(path), "PYTHONPROFILEIMPORTTIME": "1"}
    cli.env.pop("AGENT_SANDBOX_PLAN_CACHE", None)
    args = ("run", "--", "sh", "-c", "cat sub/file || echo hidden")
    runs = [cli(*args, env=env) for _ in range(2)]
    assert [r.stdout for r in runs] == ["visible\n", "visible\n"], runs[1].describe()
    assert "bwsandbox.cli._fastlaunch" in runs[1].stderr, "the second run is a cache hit"
    path.write_text(f'[filesystem]\nmask = ["{project}/sub"]\n')
    after = cli(*args, env=env)
    assert "bwsandbox.cli._resolve" in after.stderr, "the edit is a miss"
    assert after.stdout == "hidden\n", after.describe()


@pytest.mark.root
def test_policy_check_checks_the_enforced_file_as_enforced(
    cli: Cli, enforced_file: EnforcedFile
) -> None:
    path = enforced_file('[filesystem]\nrw = ["/srv"]\n')
    env = {EXTRA_VAR: str(path)}
    line = one_error(cli("policy", "check", str(path), env=env))
    assert "filesystem.rw cannot be enforced" in line
    # the same file as an ordinary policy is fine: the check knows which one it is
    assert cli("policy", "check", str(path)).returncode == 0
    path.write_text('[network]\nmode = "filtered"\n')
    result = cli("policy", "check", str(path), env=env)
    assert (result.returncode, result.stdout) == (0, f"ok: {path}\n"), result.describe()
    path.chmod(0o666)
    assert "writable by group or others" in one_error(cli("policy", "check", str(path), env=env))


def test_the_plan_cache_depends_on_the_system_file_and_its_dirs() -> None:
    deps = enforced_deps({})
    assert ("k", "/etc/agent-sandbox/enforced.toml") in deps
    assert ("c", "/etc/agent-sandbox/enforced.toml") in deps
    assert {("x", "/etc/agent-sandbox"), ("x", "/etc"), ("x", "/")} <= set(deps)


# -- as an ordinary user: a file of one's own never counts -------------------------------------
@pytest.mark.nonroot
def test_a_user_owned_enforced_file_is_refused(cli: Cli, enforced_file: EnforcedFile) -> None:
    """Were it accepted, a user could stand in a laxer layer; so it stops the launch."""
    path = enforced_file('[network]\nmode = "host"\n')
    line = one_error(cli("run", "--", "true", env={EXTRA_VAR: str(path)}))
    assert f"error: {path}: refusing the enforced policy: the file is owned by uid" in line
    assert "not root" in line
    # control: the same command without the seam runs
    assert cli("run", "--", "true").returncode == 0


@pytest.mark.nonroot
def test_a_root_owned_file_that_is_no_policy_is_refused(cli: Cli) -> None:
    """Pointing the seam at any root-owned file gets it read as a policy, and checked."""
    line = one_error(cli("run", "--", "true", env={EXTRA_VAR: "/etc/passwd"}))
    assert "error: /etc/passwd: invalid TOML" in line


def test_a_seam_naming_no_usable_file_stops_the_launch(cli: Cli) -> None:
    for value in ("relative/enforced.toml", "/nonexistent/enforced.toml"):
        line = one_error(cli("run", "--", "true", env={EXTRA_VAR: value}))
        assert value in line
