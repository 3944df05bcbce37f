"""The compiled-plan cache: keys, dependency checks, private storage, and an import-light hit."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bwsandbox.cli import _plancache as cache
from bwsandbox.cli._fastparse import parse_run
from bwsandbox.cli._spec import may_cache
from bwsandbox.runtime._probe import _path_info, _runtime_dir


@pytest.fixture
def runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "runtime"
    path.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    monkeypatch.delenv(cache.DISABLE_VAR, raising=False)
    return path


def _key(*args: str) -> str:
    parsed = parse_run(list(args))
    assert parsed is not None
    key = cache.lookup_key("run", *parsed)
    assert key is not None
    return key


@pytest.mark.usefixtures("runtime_dir")
def test_key_depends_on_command_line_env_and_cwd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    base = _key("--", "true")
    assert _key("true") == base, "the same invocation, spelled differently"
    assert _key("--", "false") != base
    assert _key("--policy", "shell", "--", "true") != base
    monkeypatch.setenv("BWSBX_TEST_VAR", "1")
    with_var = _key("--", "true")
    assert with_var != base
    monkeypatch.setenv("BWSBX_TEST_VAR", "2")
    assert _key("--", "true") != with_var
    monkeypatch.chdir(tmp_path)
    assert _key("--", "true") not in (base, with_var)


@pytest.mark.usefixtures("runtime_dir")
def test_benchmark_noise_variable_counts_by_name_only(monkeypatch: pytest.MonkeyPatch) -> None:
    base = _key("--", "true")
    monkeypatch.setenv("HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET", "XX")
    present = _key("--", "true")
    assert present != base
    monkeypatch.setenv("HYPERFINE_RANDOMIZED_ENVIRONMENT_OFFSET", "XXXXXXX")
    assert _key("--", "true") == present


@pytest.mark.usefixtures("runtime_dir")
@pytest.mark.parametrize(
    "args",
    [["--tty", "true"], ["--network", "filtered", "true"], ["--allow", "x.org", "true"]],
    ids=" ".join,
)
def test_not_cacheable(args: list[str]) -> None:
    parsed = parse_run(args)
    assert parsed is not None
    assert cache.lookup_key("run", *parsed) is None


def test_disabled_by_environment(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.DISABLE_VAR, "0")
    parsed = parse_run(["true"])
    assert parsed is not None
    assert cache.lookup_key("run", *parsed) is None


@pytest.mark.usefixtures("runtime_dir")
@pytest.mark.parametrize("name", ["run", "shell", "claude", "codex"])
@pytest.mark.parametrize("value", [None, "", "0", "1", "off", "OFF", "no", "False", "yes", "on"])
def test_the_runs_precheck_agrees_with_the_key(
    name: str, value: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_spec.may_cache`` keeps ``_plancache`` off the start when the cache is off: it is
    False only where ``lookup_key`` is None (and True where the cache is on for run/shell)."""
    if value is None:
        monkeypatch.delenv(cache.DISABLE_VAR, raising=False)
    else:
        monkeypatch.setenv(cache.DISABLE_VAR, value)
    parsed = parse_run(["true"])
    assert parsed is not None
    values, words = parsed
    key = cache.lookup_key(name, {**values, "tty": False}, words)
    if not may_cache(name, os.environ):
        assert key is None
    elif name in ("run", "shell"):
        assert key is not None


def test_store_load_and_invalidation(runtime_dir: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("x = 1\n")
    probed = tmp_path / "probed"
    deps = [("c", str(policy), cache.signature("c", str(policy)))]
    deps.append(("k", str(probed), cache.signature("k", str(probed))))
    recipe: dict[str, object] = {"argv": ["bwrap", "", "true"], "data": [("data:x", b"\0")]}
    assert cache.store("k1", deps, recipe)
    assert cache.load("k1") == recipe
    assert cache.load("k2") is None
    probed.mkdir()  # a probed path changes kind: stale
    assert cache.load("k1") is None
    probed.rmdir()
    assert cache.load("k1") == recipe
    policy.write_text("x = 2\n")  # a policy file is edited: stale
    assert cache.load("k1") is None


def test_entries_are_private_and_checked(runtime_dir: Path) -> None:
    assert cache.store("k1", [], {"a": 1})
    directory = cache.cache_dir()
    assert directory is not None
    entry = Path(directory) / "k1"
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(directory).stat().st_mode) == 0o700
    entry.chmod(0o620)
    assert cache.load("k1") is None, "a group-writable entry is not trusted"
    entry.chmod(0o600)
    assert cache.load("k1") == {"a": 1}
    target = Path(directory) / "other"
    entry.rename(target)
    entry.symlink_to(target)
    assert cache.load("k1") is None, "symlinks are not followed"
    entry.unlink()
    entry.write_bytes(b"garbage")
    entry.chmod(0o600)
    assert cache.load("k1") is None
    target.rename(Path(directory) / "k9")
    assert cache.load("k9") is None, "an entry must carry its own key"


def test_group_writable_cache_dir_is_not_used(runtime_dir: Path) -> None:
    assert cache.store("k1", [], {"a": 1})
    directory = cache.cache_dir()
    assert directory is not None
    Path(directory).chmod(0o770)
    assert cache.load("k1") is None
    assert not cache.store("k2", [], {"a": 1})


def test_prune_and_clear(runtime_dir: Path) -> None:
    for index in range(cache.MAX_ENTRIES + 3):
        assert cache.store(f"k{index}", [], {"i": index})
    directory = cache.cache_dir()
    assert directory is not None
    assert len(list(Path(directory).iterdir())) <= cache.MAX_ENTRIES
    assert cache.load(f"k{cache.MAX_ENTRIES + 2}") == {"i": cache.MAX_ENTRIES + 2}
    cache.discard(f"k{cache.MAX_ENTRIES + 2}")
    assert cache.load(f"k{cache.MAX_ENTRIES + 2}") is None
    cache.clear()
    assert list(Path(directory).iterdir()) == []


def test_path_kind_is_what_the_host_probe_records(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("dir")
    (tmp_path / "dangling").symlink_to("nowhere")
    os.mkfifo(tmp_path / "fifo")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "sock"))
        for name in ("file", "dir", "link", "dangling", "fifo", "sock", "missing"):
            path = str(tmp_path / name)
            info = _path_info(path)
            assert cache.path_kind(path) == (info.kind.value, info.target), name


def test_cache_dir_follows_the_probe(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache.cache_dir() == str(runtime_dir / "agent-sandbox" / "plans")
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert cache.cache_dir() is None, "the fallback is used only once the probe created it"
    fallback = _runtime_dir(dict(os.environ))
    assert cache.cache_dir() == str(Path(fallback) / "agent-sandbox" / "plans")


#: never imported on a cache hit (tests/sandbox/test_cli_cache.py checks a real hit too)
FORBIDDEN_ON_HIT = (
    "typer",
    "click",
    "rich",
    "dataclasses",
    "tomllib",
    "subprocess",
    "platformdirs",
    "bwsandbox.policy",
    "bwsandbox.compile",
    "bwsandbox.runtime._sandbox",
    "bwsandbox.runtime._launch",
    "bwsandbox.runtime._probe",
    "bwsandbox._api",
    "bwsandbox._audit",
)


def forbidden(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_ON_HIT)]


def test_the_hit_path_is_import_light() -> None:
    code = (
        "import sys, bwsandbox.cli, bwsandbox.cli._dispatch, bwsandbox.cli._runcmd, "
        "bwsandbox.cli._plancache, bwsandbox.cli._fastlaunch, bwsandbox.runtime._workdir\n"
        "print('\\n'.join(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert forbidden(out) == []


def test_the_runtime_modules_a_hit_uses_are_import_light() -> None:
    code = "import sys, bwsandbox.runtime._protect\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert forbidden(out) == []


def test_finish_with_a_policy_that_no_longer_reads_stores_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """finish() reads the policy again while the command runs: a policy file the sandbox
    broke meanwhile means "do not cache", never an error that would replace the exit status."""
    from types import SimpleNamespace

    from bwsandbox._errors import PolicyError
    from bwsandbox.cli import _recipe

    calls = []

    def broken(*args: object) -> object:
        calls.append(args)
        raise PolicyError("mine.toml: broken")

    monkeypatch.setattr(_recipe, "resolve", broken)
    prepared = SimpleNamespace(name="run", values={}, words=("true",))
    sandbox = SimpleNamespace(workdir="/tmp/x/w")
    entry = _recipe.finish(prepared, None, sandbox, {})  # type: ignore[arg-type]
    assert entry is None
    assert calls == [("run", {}, ("true",))], "control: the policy was read again"


def test_lookup_stand_in_is_a_new_private_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bwsandbox.cli._recipe import _make_stand_in

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    made = {_make_stand_in() for _ in range(3)}
    assert len(made) == 3
    for path in made:
        st = os.lstat(path)
        assert stat.S_ISDIR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o700
        assert Path(path).parent == tmp_path
    monkeypatch.setenv("TMPDIR", str(tmp_path / "missing"))
    fallback = _make_stand_in()  # tempfile's search of the usual places
    try:
        assert Path(fallback).is_dir()
        assert not fallback.startswith(str(tmp_path))
    finally:
        Path(fallback).rmdir()
