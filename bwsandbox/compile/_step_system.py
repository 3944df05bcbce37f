"""Steps 1-3: the system, the private directories, a curated ``/etc``.

Each is a pure ``(Context) -> Part``; see :mod:`._context`.
"""

from __future__ import annotations

import posixpath

from bwsandbox._errors import PolicyError
from bwsandbox.compile._context import Context, Part, PartBuilder
from bwsandbox.compile._facts import PathKind
from bwsandbox.compile._options import BindMount, DevMount, Dir, ProcMount, Symlink, TmpfsMount
from bwsandbox.compile._plan import SandboxUser
from bwsandbox.net._constants import NSSWITCH_CONF, RESOLV_CONF
from bwsandbox.policy._model import NetworkMode

__all__ = ["FORBIDDEN_ETC", "ROOT_LAYOUT", "etc", "private_dirs", "system"]

#: Top-level host entries reproduced in the sandbox: a symlink stays a symlink (merged /usr),
#: a directory is bound read-only.
ROOT_LAYOUT = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")

#: /etc entries that never enter a sandbox, whatever a policy says.
FORBIDDEN_ETC = frozenset(
    {
        "/etc",
        "/etc/shadow",
        "/etc/shadow-",
        "/etc/gshadow",
        "/etc/gshadow-",
        "/etc/sudoers",
        "/etc/sudoers.d",
        "/etc/ssh",
        "/etc/security",
        "/etc/machine-id",
    }
)


def system(ctx: Context) -> Part:
    """1. ``/usr`` and the root layout (merged-/usr symlinks stay symlinks), /proc, /dev."""
    part = PartBuilder()
    for path in ("/usr", *ROOT_LAYOUT):
        info = ctx.facts.path(path)
        if info is None or info.kind is PathKind.MISSING:
            continue
        if info.kind is PathKind.SYMLINK:
            part.mount(Symlink(info.target, path))
        else:
            part.mount(BindMount(path, path))
    part.mount(ProcMount(), DevMount())
    return part.build()


def private_dirs(ctx: Context) -> Part:
    """2. Private /tmp, /run and home, backed by the session work dir or tmpfs."""
    user = ctx.user
    workdir = ctx.workspace.workdir
    part = PartBuilder()
    part.mount(
        BindMount(posixpath.join(workdir, "tmp"), "/tmp", readonly=False),
        Symlink("../tmp", "/var/tmp"),
        TmpfsMount("/run", perms="0755"),
        Dir(f"/run/user/{user.uid}", perms="0700"),
    )
    if ctx.policy.filesystem.home == "tmpfs":
        part.mount(TmpfsMount(user.home, perms="0700"))
    else:
        part.mount(BindMount(posixpath.join(workdir, "home"), user.home, readonly=False))
    return part.build()


def etc(ctx: Context) -> Part:
    """3. A curated /etc: generated identity files, then what the policy lists, if present."""
    hard = ctx.policy.hardening
    mode = ctx.policy.network.mode
    part = PartBuilder()
    part.mount(Dir("/etc", perms="0755"))
    generated: dict[str, bytes] = {
        "/etc/passwd": _passwd(ctx.user, "/bin/sh"),
        "/etc/group": _group(ctx.user),
        "/etc/hostname": f"{hard.hostname}\n".encode(),
    }
    if mode is NetworkMode.HOST:
        for path in ("/etc/hosts", "/etc/resolv.conf"):
            part.mount(BindMount(path, path, optional=True))
    else:
        generated["/etc/hosts"] = _hosts(hard.hostname)
        generated["/etc/nsswitch.conf"] = NSSWITCH_CONF[mode.value].encode()
        if mode is NetworkMode.FILTERED:
            generated["/etc/resolv.conf"] = RESOLV_CONF.encode()
    for index, template in enumerate(ctx.policy.filesystem.etc):
        path = ctx.path(template, f"filesystem.etc[{index}]")
        if path in generated or path in ctx.removed:
            continue
        if path in FORBIDDEN_ETC or not path.startswith("/etc/"):
            raise PolicyError(
                f"{path} may not be bound into a sandbox",
                key=f"filesystem.etc[{index}]",
                hint="list individual files under /etc; shadow, sudoers and ssh never enter",
            )
        info = ctx.facts.path(path)
        if info is not None and info.kind is PathKind.MISSING:
            continue
        part.mount(BindMount(path, path, optional=True))
    for path, content in generated.items():
        part.data_bind(posixpath.basename(path), content, path, perms="0644")
    return part.build()


def _passwd(user: SandboxUser, shell: str) -> bytes:
    lines = ["root:x:0:0:root:/root:/usr/sbin/nologin"]
    if user.uid != 0:
        lines.append(f"{user.name}:x:{user.uid}:{user.gid}:{user.name}:{user.home}:{shell}")
    lines.append("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")
    return ("\n".join(lines) + "\n").encode()


def _group(user: SandboxUser) -> bytes:
    lines = ["root:x:0:"]
    if user.gid != 0:
        lines.append(f"{user.name}:x:{user.gid}:")
    lines.append("nogroup:x:65534:")
    return ("\n".join(lines) + "\n").encode()


def _hosts(hostname: str) -> bytes:
    return (
        f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost ip6-localhost ip6-loopback {hostname}\n"
    ).encode()
