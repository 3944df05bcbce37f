"""Issue 9 finding 9: a sandbox rewrites its own session record, then the user runs ``exec``.

The record (``<runtime>/agent-sandbox/sessions/<id>.json``) tells ``exec`` which seccomp
program, environment, cwd, uid and gid to use. When the runtime dir lies inside the project
(``XDG_RUNTIME_DIR`` there; formerly also ``TMPDIR`` there, or root running from /tmp), the
sandbox can rewrite it: the attack below removes the seccomp program and plants
``LD_PRELOAD``. The defences, each shown with the others removed:

1. the project guard refuses such a project at start (exit 125, one ``error:`` line), and
   no bind (``--rw``/``--ro``, policies) may contain the runtime dir either;
2. the record is authenticated with a key the sandbox cannot read (the data dir): the
   rewritten record is not trusted;
3. ``exec`` re-derives what the kernel can tell: a record without a seccomp program is
   refused while the sandbox's command runs under a filter.

The control removes all three (the guards through ``project_refusal``/``bind_exposure``, the MAC
check through ``_authentic``, the re-derivation through ``exec_in_session``'s ``_skip``) and
the attack works: ``exec`` runs with no filter and the planted variable.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bwsandbox import _guard, _paths
from bwsandbox._errors import LaunchError
from bwsandbox.policy import load_policy
from bwsandbox.runtime import Sandbox, _registry
from bwsandbox.runtime._exec import exec_in_session
from bwsandbox.runtime._registry import find_session, registry_dir
from bwsandbox.runtime._registry_record import SessionRecord
from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

#: runs inside the sandbox: wait for its record, drop the seccomp program, plant LD_PRELOAD
TAMPER = r"""
import glob, json, os, sys, time
for _ in range(500):
    found = glob.glob(sys.argv[1] + "/agent-sandbox/sessions/*.json")
    if found:
        break
    time.sleep(0.02)
path = found[0]
record = json.load(open(path))
record["seccomp"] = ""
record["env"].append(["LD_PRELOAD", "/planted.so"])
with open(path + ".new", "w") as file:
    json.dump(record, file)
os.rename(path + ".new", path)
open("tampered", "w").close()
time.sleep(120)
"""


def test_a_project_containing_the_runtime_dir_is_refused(cli: Cli, project: Path) -> None:
    runtime = project / "run"
    runtime.mkdir(mode=0o700)
    result = cli("run", "--", "true", env={"XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 125, result.describe()
    assert len(result.error_lines) == 1, result.describe()
    assert "contains the runtime dir" in result.error_lines[0]
    assert not (runtime / "agent-sandbox").exists(), "nothing was started or registered"
    control = cli("run", "--", "true")  # the same project, runtime dir elsewhere
    assert control.returncode == 0, control.describe()


def test_tmpdir_in_the_project_no_longer_moves_the_runtime_dir(cli: Cli, project: Path) -> None:
    """Without XDG_RUNTIME_DIR the runtime dir is in the data dir, not under $TMPDIR."""
    tmp = project / "tmp"
    tmp.mkdir()
    env = {key: value for key, value in cli.env.items() if key != "XDG_RUNTIME_DIR"}
    env["TMPDIR"] = str(tmp)
    script = 'ls -A "$0" | grep -c bwsandbox-runtime || true'
    result = Cli(env=env, cwd=project, host_tmp=cli.host_tmp, runtime_dir=cli.runtime_dir)(
        "run", "--", "sh", "-c", script, str(tmp)
    )
    assert result.returncode == 0, result.describe()
    assert result.stdout.strip() == "0", "no runtime dir under the project's TMPDIR"
    data = Path(env["AGENT_SANDBOX_DATA_DIR"]).resolve()
    assert (data / "runtime" / os.uname().nodename).is_dir()


@pytest.fixture
def attacked(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Sandbox, str]]:
    """A sandbox whose project holds the runtime dir (guard removed) and that tampered it."""
    runtime = project / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(_guard, "project_refusal", lambda *_args, **_kw: None)  # seams
    monkeypatch.setattr(_guard, "bind_exposure", lambda *_args, **_kw: None)
    out = (tmp_path / "out").open("wb")
    box = Sandbox(
        load_policy(("base",)),
        project=project,
        command=["python3", "-c", TAMPER, str(runtime)],
        stdout=out.fileno(),
        stderr=out.fileno(),
        interactive=False,
    )
    box.start()
    try:
        deadline = time.monotonic() + 30
        while not (project / "tampered").exists():
            assert time.monotonic() < deadline, (tmp_path / "out").read_text()
            time.sleep(0.02)
        yield box, str(runtime)
    finally:
        box.stop()
        out.close()


def _exec(record: SessionRecord, skip: frozenset[str] = frozenset()) -> str:
    script = 'grep "^Seccomp" /proc/self/status; echo "preload=$LD_PRELOAD"'
    with tempfile.TemporaryFile() as out, Path(os.devnull).open("rb") as devnull:
        # LD_PRELOAD of a missing file: the loader warns and goes on, so the shell still runs
        exec_in_session(
            record,
            ["sh", "-c", script],
            stdin=devnull.fileno(),
            stdout=out.fileno(),
            stderr=out.fileno(),
            _skip=skip,
        )
        out.seek(0)
        return out.read().decode(errors="replace")


def _filters(status: str) -> int:
    """How many seccomp filters a /proc/PID/status text shows."""
    match = re.search(r"^Seccomp_filters:\s+(\d+)$", status, re.MULTILINE)
    assert match is not None, status
    return int(match.group(1))


def test_a_tampered_record_is_not_trusted(
    attacked: tuple[Sandbox, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, runtime = attacked
    record_file = Path(registry_dir(runtime)) / f"{box.session_id}.json"
    tampered = record_file.read_text()
    assert '"seccomp": ""' in tampered, "the attack happened"
    with pytest.raises(LaunchError, match="no running sandbox"):
        find_session(box.session_id, runtime)  # defence 2: the MAC fails (and it is pruned)

    # defence 3 alone (the MAC check removed): exec re-derives and refuses
    monkeypatch.setattr(_registry, "_authentic", lambda *_args: True)
    record_file.parent.mkdir(mode=0o700, exist_ok=True)
    record_file.write_text(tampered)
    record = find_session(box.session_id, runtime)
    assert not record.seccomp
    assert ("LD_PRELOAD", "/planted.so") in record.env
    with pytest.raises(LaunchError, match="no seccomp program, but its command runs under one"):
        _exec(record)

    # control: every defence removed, the attack works: the exec'd command has one syscall
    # filter fewer than the sandbox's first process (counted, not "Seccomp: 0": inside a
    # container the engine's own filter stays on both)
    out = _exec(record, frozenset({"rederive"}))
    assert "preload=/planted.so" in out, out
    first = record.command_pid()
    assert first is not None
    status = Path(f"/proc/{first}/status").read_text()
    assert re.search(r"^Seccomp:\s+2$", status, re.MULTILINE), "the first process is filtered"
    assert _filters(out) == _filters(status) - 1, (out, status)


def test_no_bind_exposes_the_records_the_key_or_the_policies(cli: Cli, tmp_path: Path) -> None:
    """Beyond the project: ``--rw``/``--ro`` (and policies) cannot hand them to the sandbox."""
    runtime = str(cli.runtime_dir)
    config = cli.env["AGENT_SANDBOX_CONFIG_DIR"]
    key_dir = str(Path(_paths.record_key_path()).parent)
    _paths.record_key()  # makes the key's dir (0700)
    (cli.runtime_dir / "agent-sandbox").mkdir(mode=0o700, exist_ok=True)
    for flag, path, what in (
        ("--rw", str(cli.runtime_dir.parent), "the runtime dir"),
        ("--ro", runtime, "the runtime dir"),
        ("--ro", f"{runtime}/agent-sandbox", "inside agent-sandbox's own"),
        ("--rw", key_dir, "the session-record key"),
        ("--rw", config, "agent-sandbox's config dir"),
    ):
        result = cli("run", flag, path, "--", "true")
        assert result.returncode == 125, result.describe()
        assert len(result.error_lines) == 1, result.describe()
        assert what in result.error_lines[0], result.describe()
    sibling = tmp_path / "elsewhere"
    sibling.mkdir()
    for flag, path in (("--ro", config), ("--ro", key_dir), ("--rw", str(sibling))):
        control = cli("run", flag, path, "--", "true")
        assert control.returncode == 0, control.describe()


def test_env_delivered_secrets_stay_out_of_the_record(cli: Cli, project: Path) -> None:
    """The record holds the sandbox's environment: never a secret delivered through it."""
    policy = project.parent / "secret.toml"
    policy.write_text(
        '[secrets.token]\nsource = "env:HOST_TOKEN"\ndeliver = "env"\nenv = "TOKEN"\n'
    )
    script = 'echo "first=$TOKEN"; touch ready; exec sleep 60'
    env = {**cli.env, "HOST_TOKEN": "canary-4f2a"}
    proc = subprocess.Popen(
        [*cli.command, "run", "--policy", str(policy), "--", "sh", "-c", script],
        env=env,
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not (project / "ready").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        (record_file,) = Path(registry_dir(str(cli.runtime_dir))).glob("*.json")
        assert "canary-4f2a" not in record_file.read_text()
        record = find_session(record_file.stem, str(cli.runtime_dir))
        result = cli("exec", record.id, "--", "sh", "-c", 'echo "exec=${TOKEN-unset}"')
        assert result.returncode == 0, result.describe()
        assert result.stdout == "exec=unset\n"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert b"first=canary-4f2a" in out, "control: the first process got the secret"
