"""Probe the host once into a :class:`HostFacts` value. The only module that looks at the host.

Everything the compiler needs (bwrap, ids, home, tmp and runtime dirs, environment, what sits at
the paths the policy names) is read here; the compiler itself stays pure. bwrap is found, not
run: nothing reads its version (``doctor`` checks it), and a bwrap that cannot start is a
:class:`~bwsandbox.LaunchError` at spawn.
"""

# os-level on purpose: fd-relative calls, and no pathlib import on the start-up path
# ruff: noqa: PTH112, PTH115, PTH116, PTH117, PTH118, PTH123

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from bwsandbox._errors import DependencyError
from bwsandbox._record import replace
from bwsandbox.compile import HostFacts, PathInfo, PathKind
from bwsandbox.runtime._gitconfig import probe_git
from bwsandbox.runtime._gpu import probe_gpu

__all__ = ["ROOT_LAYOUT", "find_bwrap", "probe_host", "probe_paths"]

#: Paths always probed: how /bin, /lib... relate to /usr on this host (merged /usr, NixOS...).
ROOT_LAYOUT: tuple[str, ...] = (
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/usr",
    "/nix",
    "/nix/store",
    "/run/current-system/sw",
    "/etc",
)

_INSTALL = {
    "debian": "sudo apt-get install bubblewrap",
    "ubuntu": "sudo apt-get install bubblewrap",
    "fedora": "sudo dnf install bubblewrap",
    "rhel": "sudo dnf install bubblewrap",
    "centos": "sudo dnf install bubblewrap",
    "arch": "sudo pacman -S bubblewrap",
    "opensuse": "sudo zypper install bubblewrap",
    "alpine": "sudo apk add bubblewrap",
    "nixos": "add pkgs.bubblewrap to environment.systemPackages",
}


def probe_host(*, environ: Mapping[str, str] | None = None, paths: Iterable[str] = ()) -> HostFacts:
    """Probe the host: bwrap, ids, home, tmp and runtime dirs, environment, ``paths``."""
    env = dict(os.environ if environ is None else environ)
    bwrap = find_bwrap(env)
    uid, gid = os.getuid(), os.getgid()
    user, home = _account(uid, env)
    tmpdir = _tmpdir(env)
    facts = HostFacts(
        bwrap=bwrap,
        uid=uid,
        gid=gid,
        user=user,
        home=home,
        tmpdir=tmpdir,
        runtime_dir=_runtime_dir(env),
        environ=MappingProxyType(env),
        git=probe_git(env, home),
        gpu=probe_gpu(environ=env),
    )
    return probe_paths(facts, (*ROOT_LAYOUT, *paths))


def probe_paths(facts: HostFacts, paths: Iterable[str]) -> HostFacts:
    """A copy of ``facts`` that also knows what sits at ``paths`` (lstat, no following)."""
    known = dict(facts.paths)
    for path in paths:
        if path and path not in known:
            known[path] = _path_info(path)
    return replace(facts, paths=MappingProxyType(known))


def _path_info(path: str) -> PathInfo:
    try:
        st = os.lstat(path)
    except OSError:
        return PathInfo(PathKind.MISSING)
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        try:
            return PathInfo(PathKind.SYMLINK, os.readlink(path))
        except OSError:
            return PathInfo(PathKind.MISSING)
    if stat.S_ISDIR(mode):
        return PathInfo(PathKind.DIR)
    if stat.S_ISREG(mode):
        return PathInfo(PathKind.FILE)
    return PathInfo(PathKind.OTHER)


def find_bwrap(environ: Mapping[str, str]) -> str:
    """``$BWSANDBOX_BWRAP`` or ``bwrap`` on ``$PATH``; DependencyError with the install command."""
    override = environ.get("BWSANDBOX_BWRAP")
    if override:
        if os.path.isabs(override) and _executable_file(override):
            return override
        raise DependencyError(
            f"BWSANDBOX_BWRAP={override!r} is not an executable file",
            hint="point it to the absolute path of bwrap, or unset it",
        )
    for directory in environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", "bwrap")
        if os.path.isabs(candidate) and _executable_file(candidate):
            return candidate
    raise DependencyError(
        "bwrap (bubblewrap) was not found on PATH", hint=f"install it: {install_command()}"
    )


def install_command() -> str:
    """The command that installs bubblewrap on this distribution (from /etc/os-release)."""
    ids: list[str] = []
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.strip().partition("=")
                if key in ("ID", "ID_LIKE"):
                    ids += value.strip("\"'").split()
    except OSError:
        pass
    for name in ids:
        if name in _INSTALL:
            return _INSTALL[name]
    return "install the 'bubblewrap' package with your package manager"


def _executable_file(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and os.access(path, os.X_OK)


def _account(uid: int, environ: Mapping[str, str]) -> tuple[str, str]:
    import pwd

    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return environ.get("USER", f"user{uid}"), environ.get("HOME", "/")
    return entry.pw_name, entry.pw_dir


def _usable_dir(path: str) -> bool:
    return os.path.isabs(path) and os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _tmpdir(environ: Mapping[str, str]) -> str:
    candidate = environ.get("TMPDIR", "")
    if candidate and _usable_dir(candidate):
        return os.path.realpath(candidate)
    return "/tmp"


def _private_dir(path: str, uid: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and stat.S_IMODE(st.st_mode) & 0o077 == 0


def _runtime_dir(environ: Mapping[str, str]) -> str:
    """The runtime dir (one decision, in :func:`bwsandbox._paths.runtime_dir`)."""
    from bwsandbox._paths import runtime_dir

    return runtime_dir(environ)
