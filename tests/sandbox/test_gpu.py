"""``devices.gpu`` in a real sandbox.

These machines have no GPU, so the bind mechanics are shown with a stand-in: the host probe
reports ``/dev/fuse`` (a character device every user may open) as the GPU node and a file
outside every bind as a driver library. With ``devices.gpu`` the node is a usable character
device inside and the library is there, read-only; without it (control) neither exists.

The real-GPU test (``nvidia-smi -L`` in the sandbox) is opt-in: set BWSANDBOX_TEST_GPU=1 on a
host with an NVIDIA GPU and its driver; elsewhere it skips and says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bwsandbox
from bwsandbox.compile._facts import GpuFacts
from bwsandbox.runtime import _probe
from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

_CHECK = r"""
import os, stat, sys
node, lib = sys.argv[1], sys.argv[2]
try:
    st = os.stat(node)
    os.close(os.open(node, os.O_RDWR))
    print("node", "char" if stat.S_ISCHR(st.st_mode) else "other", "opened")
except OSError as exc:
    print("node", type(exc).__name__)
try:
    print("lib", open(lib).read().strip())
    open(lib, "a").close()
    print("lib writable")
except OSError as exc:
    print("lib", type(exc).__name__)
"""


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    if not Path("/dev/fuse").is_char_device():
        pytest.skip("the stand-in GPU node /dev/fuse is absent on this host")
    library = tmp_path / "driver" / "libnvidia-standin.so.1"
    library.parent.mkdir()
    library.write_text("driver-bytes-6170\n")
    fake = GpuFacts(devices=("/dev/fuse",), libraries=(str(library),))
    monkeypatch.setattr(_probe, "probe_gpu", lambda **_: fake)
    policy = tmp_path / "gpu.toml"
    policy.write_text('extends = ["base"]\n[devices]\ngpu = true\n')
    project = tmp_path / "project"
    project.mkdir()
    return policy, library


def _check(project: Path, library: Path, policies: tuple[str, ...]) -> str:
    result = bwsandbox.run(
        ["python3", "-c", _CHECK, "/dev/fuse", str(library)],
        project=project,
        policies=policies,
        capture_output=True,
        timeout=60,
    )
    return (result.stdout or b"").decode()


def test_gpu_nodes_and_driver_files_enter_the_sandbox(stand_in: tuple[Path, Path]) -> None:
    policy, library = stand_in
    out = _check(policy.parent / "project", library, (str(policy),))
    assert "node char opened" in out, out
    assert "lib driver-bytes-6170" in out, out
    assert "lib writable" not in out, out  # read-only
    assert "lib OSError" in out or "lib PermissionError" in out, out


def test_control_without_gpu_neither_exists(stand_in: tuple[Path, Path]) -> None:
    policy, library = stand_in
    out = _check(policy.parent / "project", library, ("base",))
    assert "node FileNotFoundError" in out, out
    assert "lib FileNotFoundError" in out, out


def _real_gpu_skip() -> str | None:
    if os.environ.get("BWSANDBOX_TEST_GPU") != "1":
        return (
            "opt-in real-GPU test: set BWSANDBOX_TEST_GPU=1 on a host with an NVIDIA GPU and "
            f"its driver (this host has {'a' if Path('/dev/nvidia0').exists() else 'no'} "
            "/dev/nvidia0)"
        )
    return None


@pytest.mark.skipif(_real_gpu_skip() is not None, reason=_real_gpu_skip() or "")
def test_real_gpu_nvidia_smi_lists_the_gpu(cli: Cli) -> None:
    result = cli("run", "--gpu", "--", "nvidia-smi", "-L")
    assert result.returncode == 0, result.describe()
    assert "GPU 0" in result.stdout, result.describe()
    control = cli("run", "--", "nvidia-smi", "-L")
    assert control.returncode != 0, control.describe()
