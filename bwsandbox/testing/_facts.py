"""Fake host facts: what :func:`bwsandbox.runtime.probe_host` would have found, by hand."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bwsandbox.compile import GitFacts, GpuFacts, HostFacts, PathInfo, PathKind

__all__ = ["fake_host_facts"]


def fake_host_facts(
    *,
    root: bool = False,
    user: str = "alice",
    paths: Mapping[str, PathInfo | PathKind] | None = None,
    environ: Mapping[str, str] | None = None,
    runtime_dir: str | None = None,
    git: GitFacts | None = None,
    gpu: GpuFacts | None = None,
    bwrap: str = "/usr/bin/bwrap",
) -> HostFacts:
    """A :class:`~bwsandbox.compile.HostFacts` for the pure compiler, without probing.

    An ordinary user ``user`` (uid and gid 1000, home ``/home/USER``), or root
    (``root=True``: uid 0, home ``/root``); bwrap 0.8.0, ``TMPDIR`` ``/tmp``. ``paths`` maps a
    host path to what the probe saw there (a :class:`~bwsandbox.compile.PathKind` is enough
    for anything but a symlink); paths left out count as not probed.
    """
    uid = 0 if root else 1000
    probed = {
        path: info if isinstance(info, PathInfo) else PathInfo(info)
        for path, info in (paths or {}).items()
    }
    return HostFacts(
        bwrap=bwrap,
        uid=uid,
        gid=uid,
        user="root" if root else user,
        home="/root" if root else f"/home/{user}",
        tmpdir="/tmp",
        runtime_dir=runtime_dir if runtime_dir is not None else f"/run/user/{uid}",
        environ=MappingProxyType(dict(environ or {})),
        paths=MappingProxyType(probed),
        git=git if git is not None else GitFacts(),
        gpu=gpu if gpu is not None else GpuFacts(),
    )
