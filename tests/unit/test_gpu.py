"""GPU access (``devices.gpu``, ``--gpu``): the host probe, the compiler's mounts, the option.

- ``runtime._gpu.probe_gpu`` over a fake ``/dev`` tree and linker cache (device nodes are
  faked by a seam: making real ones needs CAP_MKNOD);
- ``compile._gpu.gpu_mounts``: every device node with ``--dev-bind``, driver files only where
  the sandbox does not already show them, never ``/dev/dri/card*``; no device is an error;
- ``--gpu`` on this host (no GPU): exit 125 with one error line, nothing started.
"""

from __future__ import annotations

import os
import posixpath
import string
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bwsandbox._errors import DependencyError
from bwsandbox.compile import MountEntry, MountKind
from bwsandbox.compile._facts import GpuFacts
from bwsandbox.compile._gpu import DevBind, gpu_mounts
from bwsandbox.compile._options import BindMount
from bwsandbox.runtime import _gpu
from bwsandbox.runtime._gpu import probe_gpu
from tests.conftest import Cli

USR = [
    MountEntry("/usr", MountKind.RO, "/usr"),
    MountEntry("/lib", MountKind.SYMLINK, "usr/lib"),
    MountEntry("/dev", MountKind.DEV),
    MountEntry("/run", MountKind.TMPFS),
    MountEntry("/home/alice/proj", MountKind.RW, "/home/alice/proj"),
]


@pytest.fixture
def fake_dev(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake /dev: regular files named like device nodes count as character devices."""
    monkeypatch.setattr(_gpu, "_is_char_device", lambda path: Path(path).is_file())
    dev = tmp_path / "dev"
    (dev / "dri").mkdir(parents=True)
    return dev


def _touch(*paths: Path) -> None:
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_probe_finds_nvidia_nodes_render_nodes_libraries_and_smi(
    fake_dev: Path, tmp_path: Path
) -> None:
    names = ["nvidia0", "nvidia10", "nvidia2", "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools"]
    names += ["nvidia-modeset", "nvidiafoo", "nvme0", "null"]
    _touch(*(fake_dev / name for name in names))
    (fake_dev / "nvidia-caps").mkdir()
    _touch(fake_dev / "dri" / "renderD128", fake_dev / "dri" / "card0")
    lib = tmp_path / "lib"
    cached = tmp_path / "cached"
    _touch(lib / "libcuda.so.1", lib / "libnvidia-ml.so.535", lib / "libc.so.6")
    _touch(cached / "libnvidia-ptxjitcompiler.so.1")
    ld_cache = tmp_path / "ld.so.cache"
    ld_cache.write_bytes(
        b"glibc-ld.so.cache1.1\0libnvidia-ptxjitcompiler.so.1\0"
        + str(cached / "libnvidia-ptxjitcompiler.so.1").encode()
        + b"\0/gone/libcuda.so.1\0/usr/lib/libz.so.1\0"
    )
    smi = tmp_path / "bin" / "nvidia-smi"
    _touch(smi)
    smi.chmod(0o755)
    facts = probe_gpu(
        dev=str(fake_dev),
        ld_cache=str(ld_cache),
        library_dirs=(str(lib),),
        environ={"PATH": str(smi.parent)},
    )
    d = str(fake_dev)
    assert facts.devices == (  # numbers in numeric order
        f"{d}/dri/renderD128",
        f"{d}/nvidia0",
        f"{d}/nvidia2",
        f"{d}/nvidia10",
        f"{d}/nvidia-caps",
        f"{d}/nvidia-modeset",
        f"{d}/nvidia-uvm",
        f"{d}/nvidia-uvm-tools",
        f"{d}/nvidiactl",
    )
    assert facts.libraries == tuple(
        sorted(
            [
                str(cached / "libnvidia-ptxjitcompiler.so.1"),
                str(lib / "libcuda.so.1"),
                str(lib / "libnvidia-ml.so.535"),
            ]
        )
    )  # /gone: listed in the cache but absent; libc and libz: not the driver
    if os.access("/usr/bin/nvidia-smi", os.X_OK):
        assert facts.binaries == ("/usr/bin/nvidia-smi",)
    else:
        assert facts.binaries == (str(smi),)


def test_probe_without_any_device_finds_nothing_and_reads_no_cache(
    fake_dev: Path, tmp_path: Path
) -> None:
    _touch(fake_dev / "null", fake_dev / "dri" / "card0")
    lib = tmp_path / "lib"
    _touch(lib / "libcuda.so.1")
    facts = probe_gpu(dev=str(fake_dev), ld_cache="/nonexistent", library_dirs=(str(lib),))
    assert facts == GpuFacts()


def test_render_node_alone_binds_no_driver_files(fake_dev: Path, tmp_path: Path) -> None:
    _touch(fake_dev / "dri" / "renderD129")
    lib = tmp_path / "lib"
    _touch(lib / "libcuda.so.1")
    facts = probe_gpu(dev=str(fake_dev), ld_cache="/nonexistent", library_dirs=(str(lib),))
    assert facts == GpuFacts(devices=(f"{fake_dev}/dri/renderD129",))


def test_probe_on_this_host_is_consistent() -> None:
    facts = probe_gpu()
    for path in facts.devices:
        assert path.startswith("/dev/")
    if not any(Path(p).name.startswith("nvidia") for p in facts.devices):
        assert facts.libraries == facts.binaries == ()


def test_mounts_dev_bind_every_node_and_bind_only_unseen_files() -> None:
    gpu = GpuFacts(
        devices=("/dev/nvidia0", "/dev/nvidiactl", "/dev/dri/renderD128"),
        libraries=(
            "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
            "/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
            "/run/opengl-driver/lib/libcuda.so.1",
            "/home/alice/proj/libnvidia-evil.so.1",
        ),
        binaries=("/opt/nvidia/bin/nvidia-smi",),
    )
    got = gpu_mounts(gpu, USR)
    assert got == [
        DevBind("/dev/nvidia0", "/dev/nvidia0"),
        DevBind("/dev/nvidiactl", "/dev/nvidiactl"),
        DevBind("/dev/dri/renderD128", "/dev/dri/renderD128"),
        BindMount("/run/opengl-driver/lib/libcuda.so.1", "/run/opengl-driver/lib/libcuda.so.1",
                  optional=True),
        # inside a writable bind: bound read-only over it
        BindMount("/home/alice/proj/libnvidia-evil.so.1", "/home/alice/proj/libnvidia-evil.so.1",
                  optional=True),
        BindMount("/opt/nvidia/bin/nvidia-smi", "/opt/nvidia/bin/nvidia-smi", optional=True),
    ]  # fmt: skip
    assert [e.kind for o in got[:3] if (e := o.entry())] == [MountKind.DEV] * 3
    assert DevBind("/dev/nvidia0", "/dev/nvidia0").render() == [
        "--dev-bind",
        "/dev/nvidia0",
        "/dev/nvidia0",
    ]


def test_no_gpu_device_is_an_error_naming_the_option() -> None:
    with pytest.raises(DependencyError, match=r"--gpu .*no GPU device"):
        gpu_mounts(GpuFacts(), USR)


_NAME = st.text(string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=8)


@given(st.lists(_NAME, min_size=1, max_size=4), st.sampled_from(["/usr", "/lib", "/opt", "/run"]))
@example([".."], "/usr")  # the host's root: never bound (CI's hypothesis found it)
@example([".."], "/opt")  # the same, where no planned mount covers it
@example(["..", "etc", "x"], "/usr")
@example(["nvidia", "libcuda.so"], "/opt")  # control: a normal path outside is bound
def test_a_driver_file_is_visible_exactly_once_read_only(parts: list[str], top: str) -> None:
    """Whatever the path: bound read-only unless an identical read-only bind shows it."""
    path = "/".join([top, *parts])
    if path in ("/lib", "/usr"):
        return
    got = gpu_mounts(GpuFacts(devices=("/dev/nvidia0",), libraries=(path,)), USR)
    binds = [option for option in got if isinstance(option, BindMount)]
    if posixpath.normpath(path) != path:  # ., .. or an empty part: never bound
        assert binds == [], "/usr/.. is the host's root"
        return
    already = top in ("/usr", "/lib")
    assert binds == ([] if already else [BindMount(path, path, optional=True)])
    assert all(b.readonly for b in binds)


@pytest.mark.skipif(
    any(Path("/dev").glob("nvidia[0-9]*")) or any(Path("/dev/dri").glob("renderD*")),
    reason="this host has a GPU device",
)
def test_cli_gpu_without_a_gpu_exits_125_with_one_line(cli: Cli) -> None:
    result = cli("run", "--gpu", "--", "sh", "-c", "echo started")
    assert result.returncode == 125, result.describe()
    assert "started" not in result.stdout
    assert len(result.error_lines) == 1, result.describe()
    assert "no GPU device" in result.error_lines[0], result.describe()


def test_policy_devices_section_is_validated() -> None:
    from bwsandbox._errors import PolicyError
    from bwsandbox.policy import load_policy

    assert load_policy(("base",)).devices.gpu is False
    on = load_policy(("base",), overlays=[("command line", {"devices": {"gpu": True}})])
    assert on.devices.gpu is True
    with pytest.raises(PolicyError, match=r"devices\.gpu: expected a boolean"):
        load_policy(("base",), overlays=[("layer", {"devices": {"gpu": "yes"}})])
    with pytest.raises(PolicyError, match=r"did you mean 'gpu'"):
        load_policy(("base",), overlays=[("layer", {"devices": {"gpus": True}})])


def test_gpu_option_becomes_the_devices_layer() -> None:
    from bwsandbox._api import build_overlay

    assert build_overlay(gpu=True) == {"devices": {"gpu": True}}
    assert "devices" not in build_overlay()
