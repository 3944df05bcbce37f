"""Probe the host's GPUs into :class:`GpuFacts` (for ``devices.gpu``; see ``compile._gpu``).

Cheap when there is no GPU (a few µs): a look for ``/dev/nvidiactl`` and ``/dev/dri``. The
driver's libraries are looked for only when an NVIDIA device node exists: their full paths from the
dynamic linker's cache (``/etc/ld.so.cache`` stores them as NUL-terminated strings, in both of
its formats), then the usual library directories (NixOS keeps the driver in
``/run/opengl-driver/lib``, WSL in ``/usr/lib/wsl/lib``).
"""

# os-level on purpose, like runtime._probe (start-up path)
# ruff: noqa: PTH110, PTH112, PTH113, PTH114, PTH117, PTH118, PTH123, PTH208

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping

from bwsandbox.compile import GpuFacts

__all__ = ["LIBRARY_DIRS", "probe_gpu"]

_NVIDIA_NODE = r"nvidia(?:[0-9]+|ctl|-uvm|-uvm-tools|-modeset)"
_LIBRARY = r"(?:libcuda|libnvidia-[^/\0]+)\.so[^/\0]*"
_CACHED_PATH = rb"(/[^\0]*/(?:libcuda|libnvidia-[^/\0]+)\.so[^/\0]*)\0"

#: where driver libraries live when the linker cache does not list them
LIBRARY_DIRS: tuple[str, ...] = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/nvidia/lib64",
    "/run/opengl-driver/lib",
    "/usr/lib/wsl/lib",
)
_BIN_DIRS = ("/usr/bin", "/usr/local/bin", "/run/current-system/sw/bin", "/usr/lib/wsl/lib")


def probe_gpu(
    *,
    dev: str = "/dev",
    ld_cache: str = "/etc/ld.so.cache",
    library_dirs: Iterable[str] = LIBRARY_DIRS,
    environ: Mapping[str, str] | None = None,
) -> GpuFacts:
    """What :func:`compile._gpu.gpu_mounts` needs (``dev`` and friends: seams for tests)."""
    # every NVIDIA driver makes /dev/nvidiactl (no GPU is usable without it): one lstat
    # instead of reading all of /dev on the hosts without one
    devices = _nvidia_nodes(dev) if os.path.lexists(os.path.join(dev, "nvidiactl")) else []
    nvidia = bool(devices)
    dri = os.path.join(dev, "dri")
    devices += [
        os.path.join(dri, name)
        for name in _names(dri)
        if name.startswith("renderD")
        and name[7:].isdigit()
        and _is_char_device(os.path.join(dri, name))
    ]
    if not devices:
        return GpuFacts()
    libraries: list[str] = []
    binaries: list[str] = []
    if nvidia:
        import re  # not at import: this module is on the start-up path (the host probe)

        libraries = _cached_libraries(ld_cache)
        for directory in library_dirs:
            libraries += [
                os.path.join(directory, name)
                for name in _names(directory)
                if re.fullmatch(_LIBRARY, name)
            ]
        libraries = [path for path in dict.fromkeys(libraries) if os.path.exists(path)]
        binaries = _binaries("nvidia-smi", environ)
    return GpuFacts(
        devices=tuple(sorted(devices, key=_natural)),
        libraries=tuple(sorted(libraries)),
        binaries=tuple(binaries),
    )


def _names(directory: str) -> list[str]:
    try:
        return os.listdir(directory)
    except OSError:
        return []


def _is_char_device(path: str) -> bool:
    try:
        return stat.S_ISCHR(os.lstat(path).st_mode)
    except OSError:
        return False


def _nvidia_nodes(dev: str) -> list[str]:
    import re

    found = []
    for name in _names(dev):
        if not name.startswith("nvidia"):  # cheap first: /dev has hundreds of entries
            continue
        path = os.path.join(dev, name)
        node = re.fullmatch(_NVIDIA_NODE, name) is not None and _is_char_device(path)
        caps = name == "nvidia-caps" and os.path.isdir(path) and not os.path.islink(path)
        if node or caps:
            found.append(path)
    return found


def _cached_libraries(ld_cache: str) -> list[str]:
    import re

    try:
        with open(ld_cache, "rb") as handle:
            data = handle.read(1 << 24)
    except OSError:
        return []
    return [match.decode(errors="replace") for match in re.findall(_CACHED_PATH, data)]


def _binaries(name: str, environ: Mapping[str, str] | None) -> list[str]:
    env = os.environ if environ is None else environ
    dirs = [d for d in env.get("PATH", "").split(os.pathsep) if os.path.isabs(d)]
    for directory in dict.fromkeys([*_BIN_DIRS, *dirs]):
        path = os.path.join(directory, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return [path]
    return []


def _natural(path: str) -> tuple[str, int, str]:
    """``/dev/nvidia2`` before ``/dev/nvidia10``."""
    import re

    match = re.fullmatch(r"(.*?)([0-9]+)", path)
    if match is None:
        return (path, -1, "")
    return (match.group(1), int(match.group(2)), path)
