"""compile_plan: (Policy, HostFacts, Workspace) -> SandboxPlan. Pure: no I/O.

The plan's mount list is ordered so that parents are mounted before children (bwrap applies
mounts in order, and a later mount covers an earlier one at the same place); among mounts of
the same depth, the order of the layers is kept, so a later policy layer wins.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable, Mapping

from bwsandbox._errors import PolicyError
from bwsandbox.compile import _git
from bwsandbox.compile._facts import HostFacts, PathKind, Workspace
from bwsandbox.compile._limits import compile_limits, compile_seccomp
from bwsandbox.compile._options import (
    BindMount,
    BwrapOption,
    Chdir,
    DataBind,
    DevMount,
    Dir,
    Fd,
    FdRef,
    Flag,
    ProcMount,
    RemountRo,
    Symlink,
    TmpfsMount,
    WithValue,
)
from bwsandbox.compile._plan import (
    DataFile,
    MountEntry,
    MountKind,
    NetworkPlan,
    SandboxPlan,
    SandboxUser,
)
from bwsandbox.compile._procfs import proc_mounts, proc_paths_to_probe
from bwsandbox.compile._secrets import plan_secrets
from bwsandbox.net._constants import NSSWITCH_CONF, OFFLINE_ENV, PROXY_ENV, RESOLV_CONF
from bwsandbox.policy._model import NetworkMode, Policy
from bwsandbox.policy._vars import expand

__all__ = [
    "FORBIDDEN_ETC",
    "ROOT_LAYOUT",
    "compile_plan",
    "paths_to_probe",
    "sandbox_user",
    "variables_for",
]

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

INFO_FD = FdRef("info")
BLOCK_FD = FdRef("block")

_ROOT_UID = 1000  # the uid inside when invoked as root
_ROOT_USER = "agent"


def sandbox_user(policy: Policy, facts: HostFacts) -> SandboxUser:
    """Who runs inside: the caller (same name, uid, home path), or ``agent`` (1000) for root."""
    if facts.is_root:
        uid = policy.hardening.uid if policy.hardening.uid is not None else _ROOT_UID
        return SandboxUser(name=_ROOT_USER, uid=uid, gid=uid, home=f"/home/{_ROOT_USER}")
    uid = policy.hardening.uid if policy.hardening.uid is not None else facts.uid
    home = facts.home if facts.home not in ("", "/") else f"/home/{facts.user}"
    return SandboxUser(name=facts.user, uid=uid, gid=facts.gid, home=home)


def variables_for(facts: HostFacts, workspace: Workspace, user: SandboxUser) -> dict[str, str]:
    return {
        "project": workspace.project,
        "home": user.home,
        "host_home": facts.home,
        "workdir": workspace.workdir,
        "client": workspace.client,
        "user": user.name,
        "uid": str(user.uid),
        "runtime_dir": facts.runtime_dir,
    }


def paths_to_probe(policy: Policy, facts: HostFacts, workspace: Workspace) -> tuple[str, ...]:
    """Host paths whose kind the compiler needs (probe them into ``HostFacts.paths``)."""
    user = sandbox_user(policy, facts)
    variables = variables_for(facts, workspace, user)
    fs = policy.filesystem
    paths: list[str] = [*ROOT_LAYOUT, "/usr", "/nix/store", "/etc", *proc_paths_to_probe()]
    paths += [_expand(b.src, variables, "filesystem.ro") for b in fs.ro]
    paths += [_expand(b.src, variables, "filesystem.rw") for b in fs.rw]
    paths += [_expand(p, variables, "filesystem.mask") for p in fs.mask]
    for template in fs.protect:
        path = posixpath.normpath(_expand(template, variables, "filesystem.protect"))
        paths.append(path)
        # a fixed point of dirname, not "/": "//x" climbs to "//", a relative path to ""
        while path != posixpath.dirname(path) and not any(
            _under(path, b) for b in ("/usr", "/etc")
        ):
            path = posixpath.dirname(path)
            paths.append(path)
    paths += [_expand(p, variables, "filesystem.etc") for p in fs.etc]
    return tuple(dict.fromkeys(posixpath.normpath(p) for p in paths))


def _expand(template: str, variables: Mapping[str, str], where: str) -> str:
    return expand(template, variables, where=where)


def _depth(path: str) -> int:
    return 0 if path == "/" else path.count("/")


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


class _Mounts:
    """Collects mounts with their table entries; sorted by depth, stable, at the end."""

    def __init__(self) -> None:
        self._items: list[tuple[int, int, BwrapOption, MountEntry | None]] = []

    def add(self, option: BwrapOption, entry: MountEntry | None, dest: str) -> None:
        self._items.append((_depth(dest), len(self._items), option, entry))

    def entries(self) -> list[MountEntry]:
        return self.ordered()[1]

    def ordered(self) -> tuple[list[BwrapOption], list[MountEntry]]:
        items = sorted(self._items, key=lambda item: (item[0], item[1]))
        options = [option for _, _, option, _ in items]
        entries = [entry for _, _, _, entry in items if entry is not None]
        return options, entries


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


def _environment(
    policy: Policy,
    facts: HostFacts,
    workspace: Workspace,
    variables: Mapping[str, str],
    git_env: Mapping[str, str],
) -> tuple[tuple[str, str], ...]:
    patterns = policy.env.passthrough
    env = dict(OFFLINE_ENV) if policy.network.mode is NetworkMode.NONE else {}
    env |= {
        name: value
        for name, value in facts.environ.items()
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)
    }
    for name, template in policy.env.set:
        env[name] = _expand(template, variables, f"env.set.{name}")
    if policy.network.mode is NetworkMode.FILTERED:
        env.update(PROXY_ENV)
    env.update(git_env)
    env.update(workspace.extra_env)
    for pattern in policy.env.unset:
        for name in [n for n in env if fnmatch.fnmatchcase(n, pattern)]:
            del env[name]
    return tuple(sorted(env.items()))


def _protect(
    templates: tuple[str, ...],
    variables: Mapping[str, str],
    *,
    facts: HostFacts,
    removed: set[str],
    rw_dests: list[str],
    mounts: _Mounts,
    data_file: Callable[[str, bytes], FdRef],
) -> tuple[list[str], list[tuple[str, str]]]:
    """Read-only mounts for protected paths inside writable binds.

    - present file or dir: bound read-only onto itself;
    - symlink: its target is bound read-only (the link itself is checked after the session);
    - absent, parent present: an empty read-only placeholder (tmpfs dir or empty data file),
      so it cannot be created; bwrap makes the mount point, the runtime removes it after;
    - every directory between the writable bind and the path is bound onto itself, so it is a
      mount point that cannot be renamed away and replaced (``mv .git .git-old``).
    """
    protected: list[str] = []
    placeholders: list[tuple[str, str]] = []
    anchors: set[str] = set()
    for index, template in enumerate(templates):
        is_dir = template.endswith("/")
        path = posixpath.normpath(_expand(template, variables, f"filesystem.protect[{index}]"))
        if path in removed:
            continue
        roots = [dest for dest in rw_dests if _under(path, dest) and path != dest]
        if not roots:
            continue
        root = max(roots, key=len)
        protected.append(path)
        ancestor = posixpath.dirname(path)
        parent_present = ancestor == root
        while ancestor != root and _under(ancestor, root):
            info = facts.path(ancestor)
            if info is None or info.kind is not PathKind.DIR:
                break
            parent_present = parent_present or ancestor == posixpath.dirname(path)
            if ancestor not in anchors:
                anchors.add(ancestor)
                mounts.add(
                    BindMount(ancestor, ancestor, readonly=False),
                    MountEntry(ancestor, MountKind.RW, ancestor),
                    ancestor,
                )
            ancestor = posixpath.dirname(ancestor)
        info = facts.path(path)
        if info is None or info.kind in (PathKind.FILE, PathKind.DIR, PathKind.SYMLINK):
            optional = info is None or info.kind is PathKind.SYMLINK
            mounts.add(
                BindMount(path, path, optional=optional), MountEntry(path, MountKind.RO, path), path
            )
        elif info.kind is PathKind.MISSING and parent_present:
            if is_dir:
                mounts.add(TmpfsMount(path, perms="0555"), MountEntry(path, MountKind.TMPFS), path)
                mounts.add(RemountRo(path), None, path)
                placeholders.append((path, "dir"))
            else:
                ref = data_file(f"protect{index}", b"")
                mounts.add(
                    DataBind(ref, path, perms="0444"), MountEntry(path, MountKind.DATA), path
                )
                placeholders.append((path, "file"))
    return protected, placeholders


def _git_files(  # noqa: PLR0917 (the compiler's own collectors, passed along)
    policy: Policy,
    facts: HostFacts,
    workspace: Workspace,
    placeholders: list[tuple[str, str]],
    mounts: _Mounts,
    data_file: Callable[[str, bytes], FdRef],
    warnings: list[str],
) -> dict[str, str]:
    """The generated gitconfig and ignore file (``compile._git``); the variables naming them."""
    env: dict[str, str] = {}
    git = facts.git
    name, email = (v if _git.refusal("", v) is None else "" for v in (git.name, git.email))
    if policy.git.identity and (name or email):
        content = _git.gitconfig(name, email)
        path = _git.GITCONFIG
        ref = data_file("gitconfig", content)
        mounts.add(DataBind(ref, path, perms="0444"), MountEntry(path, MountKind.DATA), path)
        env["GIT_CONFIG_SYSTEM"] = path
    if policy.git.identity:
        warnings.extend(git.refused)
    top = posixpath.normpath(workspace.project)
    host = git.excludes if policy.git.excludes else b""
    content = _git.ignore_file(placeholders, top, host)
    if content:
        path = _git.GITIGNORE
        ref = data_file("gitignore", content)
        mounts.add(DataBind(ref, path, perms="0444"), MountEntry(path, MountKind.DATA), path)
        env.update(
            GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="core.excludesFile", GIT_CONFIG_VALUE_0=path
        )
    return env


def compile_plan(policy: Policy, facts: HostFacts, workspace: Workspace) -> SandboxPlan:
    """Compile a resolved policy for this host and session into a launch plan."""
    user = sandbox_user(policy, facts)
    variables = variables_for(facts, workspace, user)
    fs = policy.filesystem
    hard = policy.hardening
    net = policy.network
    warnings: list[str] = []

    command = workspace.command or policy.command.argv
    if not command:
        raise PolicyError(
            "no command to run",
            file=policy.sources[-1] if policy.sources else None,
            key="command.argv",
            hint="give one after '--', or set command.argv in a policy",
        )

    wanted: list[BwrapOption | None] = [
        Flag("--unshare-user"),
        Flag("--unshare-ipc") if not hard.share_ipc else None,
        Flag("--unshare-pid") if not hard.share_pid else None,
        Flag("--unshare-uts"),
        Flag("--unshare-cgroup-try"),
        Flag("--unshare-net") if net.mode is not NetworkMode.HOST else Flag("--share-net"),
        None if hard.nested_userns else Flag("--disable-userns"),
        Flag("--die-with-parent") if hard.die_with_parent else None,
        WithValue("--cap-drop", ("ALL",)),
        WithValue("--uid", (str(user.uid),)),
        WithValue("--gid", (str(user.gid),)),
        WithValue("--hostname", (hard.hostname,)),
        Flag("--new-session") if hard.new_session and not workspace.interactive else None,
        Fd("--info-fd", INFO_FD),
        Fd("--block-fd", BLOCK_FD),
    ]
    options = [option for option in wanted if option is not None]
    if net.mode is NetworkMode.HOST:
        warnings.append(
            "network mode 'host': the sandbox shares the host's network, including services "
            "on localhost and the local network; prefer 'filtered'"
        )

    data: list[DataFile] = []

    def data_file(name: str, content: bytes, secret: bool = False) -> FdRef:
        ref = FdRef(f"data:{name}")
        data.append(DataFile(fd=ref, content=content, secret=secret))
        return ref

    if policy.seccomp.enabled:
        seccomp = policy.seccomp
        _, program = compile_seccomp(seccomp.allow, seccomp.deny, nested_userns=hard.nested_userns)
        options.append(Fd("--seccomp", data_file("seccomp", program)))

    mounts = _Mounts()
    removed = {posixpath.normpath(_expand(p, variables, "filesystem.remove")) for p in fs.remove}

    # 1. the system: /usr and the root layout (merged-/usr symlinks stay symlinks)
    for path in ("/usr", *ROOT_LAYOUT):
        info = facts.path(path)
        if info is None or info.kind is PathKind.MISSING:
            continue
        if info.kind is PathKind.SYMLINK:
            mounts.add(
                Symlink(info.target, path), MountEntry(path, MountKind.SYMLINK, info.target), path
            )
        else:
            mounts.add(BindMount(path, path), MountEntry(path, MountKind.RO, path), path)
    mounts.add(ProcMount(), MountEntry("/proc", MountKind.PROC), "/proc")
    mounts.add(DevMount(), MountEntry("/dev", MountKind.DEV), "/dev")

    # 2. private /tmp, /run and home, backed by the session work dir or tmpfs
    tmp_src = posixpath.join(workspace.workdir, "tmp")
    mounts.add(
        BindMount(tmp_src, "/tmp", readonly=False),
        MountEntry("/tmp", MountKind.RW, tmp_src),
        "/tmp",
    )
    mounts.add(
        Symlink("../tmp", "/var/tmp"),
        MountEntry("/var/tmp", MountKind.SYMLINK, "../tmp"),
        "/var/tmp",
    )
    mounts.add(TmpfsMount("/run", perms="0755"), MountEntry("/run", MountKind.TMPFS), "/run")
    run_user = f"/run/user/{user.uid}"
    mounts.add(Dir(run_user, perms="0700"), MountEntry(run_user, MountKind.DIR), run_user)
    if fs.home == "tmpfs":
        mounts.add(
            TmpfsMount(user.home, perms="0700"), MountEntry(user.home, MountKind.TMPFS), user.home
        )
    else:
        home_src = posixpath.join(workspace.workdir, "home")
        mounts.add(
            BindMount(home_src, user.home, readonly=False),
            MountEntry(user.home, MountKind.RW, home_src),
            user.home,
        )

    # 3. a curated /etc: generated identity files, then what the policy lists, if present
    mounts.add(Dir("/etc", perms="0755"), MountEntry("/etc", MountKind.DIR), "/etc")
    generated: dict[str, bytes] = {
        "/etc/passwd": _passwd(user, "/bin/sh"),
        "/etc/group": _group(user),
        "/etc/hostname": f"{hard.hostname}\n".encode(),
    }
    if net.mode is NetworkMode.HOST:
        for path in ("/etc/hosts", "/etc/resolv.conf"):
            mounts.add(
                BindMount(path, path, optional=True), MountEntry(path, MountKind.RO, path), path
            )
    else:
        generated["/etc/hosts"] = _hosts(hard.hostname)
        generated["/etc/nsswitch.conf"] = NSSWITCH_CONF[net.mode.value].encode()
        if net.mode is NetworkMode.FILTERED:
            generated["/etc/resolv.conf"] = RESOLV_CONF.encode()
    for index, template in enumerate(fs.etc):
        path = posixpath.normpath(_expand(template, variables, f"filesystem.etc[{index}]"))
        if path in generated or path in removed:
            continue
        if path in FORBIDDEN_ETC or not path.startswith("/etc/"):
            raise PolicyError(
                f"{path} may not be bound into a sandbox",
                key=f"filesystem.etc[{index}]",
                hint="list individual files under /etc; shadow, sudoers and ssh never enter",
            )
        info = facts.path(path)
        if info is not None and info.kind is PathKind.MISSING:
            continue
        mounts.add(BindMount(path, path, optional=True), MountEntry(path, MountKind.RO, path), path)
    for path, content in generated.items():
        name = posixpath.basename(path)
        mounts.add(
            DataBind(data_file(name, content), path, perms="0644"),
            MountEntry(path, MountKind.DATA),
            path,
        )

    # 4. the policy's binds and tmpfs mounts
    rw_dests: list[str] = []
    ro_dests = {posixpath.normpath(_expand(b.target, variables, "filesystem.ro")) for b in fs.ro}
    for kind, binds in ((MountKind.RO, fs.ro), (MountKind.RW, fs.rw)):
        for index, bind in enumerate(binds):
            where = f"filesystem.{kind.value}[{index}]"
            src = posixpath.normpath(_expand(bind.src, variables, where + ".src"))
            dest = posixpath.normpath(_expand(bind.target, variables, where + ".dest"))
            if dest in removed or (kind is MountKind.RW and dest in ro_dests):
                continue  # read-only wins when two layers name the same place
            info = facts.path(src)
            if info is not None and info.kind is PathKind.MISSING:
                if bind.optional:
                    continue
                raise PolicyError(
                    f"bind source {src} does not exist",
                    file=policy.sources[-1] if policy.sources else None,
                    key=where,
                    hint="create it, or mark the bind optional = true",
                )
            readonly = kind is MountKind.RO
            if not readonly:
                rw_dests.append(dest)
            mounts.add(
                BindMount(src, dest, readonly=readonly, optional=bind.optional and info is None),
                MountEntry(dest, kind, src),
                dest,
            )
    for index, template in enumerate(fs.tmpfs):
        dest = posixpath.normpath(_expand(template, variables, f"filesystem.tmpfs[{index}]"))
        if dest not in removed:
            mounts.add(TmpfsMount(dest), MountEntry(dest, MountKind.TMPFS), dest)
    if policy.devices.gpu:  # host GPUs (compile._gpu): device nodes, driver files
        from bwsandbox.compile._gpu import gpu_mounts  # only policies that ask for GPUs

        for option, gpu_entry in gpu_mounts(facts.gpu, mounts.entries()):
            mounts.add(option, gpu_entry, gpu_entry.dest)

    # 5. masks and protections apply only where the path is visible (inside a bind), so
    #    they never expose a host path by themselves
    visible = [entry.dest for entry in mounts.entries()]
    for option, entry, dest in proc_mounts(facts, visible, data_file):
        mounts.add(option, entry, dest)
    for index, template in enumerate(fs.mask):
        path = posixpath.normpath(_expand(template, variables, f"filesystem.mask[{index}]"))
        info = facts.path(path)
        if path in removed or info is None or not any(_under(path, v) for v in visible):
            continue
        if info.kind is PathKind.DIR:
            mounts.add(TmpfsMount(path, perms="0755"), MountEntry(path, MountKind.TMPFS), path)
            mounts.add(RemountRo(path), None, path)
        elif info.kind in (PathKind.FILE, PathKind.OTHER, PathKind.SYMLINK):
            ref = data_file(f"mask{index}", b"")
            mounts.add(DataBind(ref, path, perms="0444"), MountEntry(path, MountKind.DATA), path)
    protected, placeholders = _protect(
        fs.protect,
        variables,
        facts=facts,
        removed=removed,
        rw_dests=rw_dests,
        mounts=mounts,
        data_file=data_file,
    )

    git_env = _git_files(policy, facts, workspace, placeholders, mounts, data_file, warnings)

    secrets = plan_secrets(policy, variables, data_file)
    for option, entry in secrets.mounts:
        mounts.add(option, entry, entry.dest)

    mount_options, entries = mounts.ordered()
    options.extend(mount_options)
    cwd = posixpath.normpath(_expand(policy.command.cwd, variables, "command.cwd"))
    options.append(Chdir(cwd))

    env = _environment(policy, facts, workspace, variables, git_env)
    if secrets.env:
        env = tuple(sorted({**dict(env), **dict(secrets.env)}.items()))
    return SandboxPlan(
        bwrap=facts.bwrap,
        options=tuple(options),
        command=tuple(command),
        env=env,
        cwd=cwd,
        user=user,
        network=NetworkPlan(mode=net.mode, allow=net.allow, deny=net.deny, add_hosts=net.add_hosts),
        data=tuple(data),
        mounts=tuple(entries),
        protected=tuple(protected),
        placeholders=tuple(placeholders),
        watched=tuple(
            posixpath.normpath(_expand(p, variables, f"filesystem.watch[{i}]"))
            for i, p in enumerate(fs.watch)
        ),
        warnings=tuple(warnings),
        secrets=secrets.uses,
        ssh=secrets.ssh,
        limits=compile_limits(policy.limits),
    )
