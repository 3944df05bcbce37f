"""``doctor``'s sandbox probe: the bwrap features a real ``run`` needs, one at a time.

A real ``run`` asks bwrap for every namespace, its own ``/proc`` and ``/dev``, a hostname
(``sethostname``) and no nested user namespaces. Inside a container each of these can be
refused by a different layer, and each needs a different fix:

- the engine's **seccomp** profile refuses ``unshare``/``clone`` with namespace flags (Docker's
  default: "Creating new namespace failed") or ``sethostname`` (Podman's default);
- the engine **masks /proc paths** (``/proc/kcore``, ``/proc/sys``...), and the kernel refuses
  a new procfs mount in a user namespace while parts of the old one are covered ("Can't mount
  proc"): Podman's ``unmask``, Docker's ``systempaths=unconfined``;
- **AppArmor** (``docker-default``) refuses mounts.

So the probe first runs the whole set (as ``run`` would); when that fails it runs each feature
alone, and names for each refused one what the engine needs, with the exact flag. The engine
is told by its marker files (``/run/.containerenv``: Podman, ``/.dockerenv``: Docker).
"""

from __future__ import annotations

from bwsandbox._record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from bwsandbox.doctor._model import HostProbe

__all__ = ["FEATURES", "Feature", "SandboxProbe", "container_engine", "fix_for", "probe_sandbox"]

#: what every feature probe starts from (a user namespace, the host's root read-only)
_BASE = ("--unshare-user", "--ro-bind", "/", "/")


@record
class Feature:
    """One bwrap feature ``run`` uses: its probe arguments and the fix per engine."""

    name: str
    argv: tuple[str, ...]
    podman: str
    docker: str
    other: str


FEATURES = (
    Feature(
        "namespaces",
        ("--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup"),
        podman="--security-opt seccomp=unconfined (or a profile allowing unshare and clone with "
        "namespace flags)",
        docker="--security-opt seccomp=unconfined (Docker's default profile refuses new "
        "namespaces without CAP_SYS_ADMIN; a custom profile allowing unshare/clone also works)",
        other="the container's seccomp profile must allow unshare/clone with namespace flags",
    ),
    Feature(
        "/proc",
        ("--unshare-pid", "--proc", "/proc"),
        podman="--security-opt unmask=/proc/* (masked /proc paths keep the kernel from "
        "mounting a new /proc in a user namespace)",
        docker="--security-opt systempaths=unconfined (masked /proc paths keep the kernel from "
        "mounting a new /proc in a user namespace)",
        other="the container's /proc must not have masked (over-mounted) paths",
    ),
    Feature(
        "hostname",
        ("--unshare-uts", "--hostname", "sandbox"),
        podman="--security-opt seccomp=PROFILE.json with sethostname allowed (or "
        "seccomp=unconfined)",
        docker="--security-opt seccomp=unconfined (or a profile allowing sethostname)",
        other="the container's seccomp profile must allow sethostname",
    ),
    Feature(
        "/dev",
        ("--dev", "/dev"),
        podman="--security-opt seccomp=unconfined and, on AppArmor hosts, "
        "--security-opt apparmor=unconfined",
        docker="--security-opt apparmor=unconfined (docker-default refuses mounts)",
        other="the container's AppArmor/SELinux profile must allow mounts in a user namespace",
    ),
    Feature(
        "nested user namespaces off",
        ("--disable-userns",),
        podman="--security-opt unmask=/proc/* (bwrap sets user.max_user_namespaces in the "
        "sandbox's own namespace, through a /proc/sys the engine mounts read-only)",
        docker="--security-opt systempaths=unconfined (bwrap sets user.max_user_namespaces in "
        "the sandbox's own namespace, through a /proc/sys the engine mounts read-only)",
        other="the container's /proc/sys must be writable for namespaced settings",
    ),
)

#: the whole set, as ``run`` uses it (the probe for "does a real sandbox start")
FULL = (
    "--unshare-all",
    "--unshare-user",
    "--disable-userns",
    "--cap-drop",
    "ALL",
    "--die-with-parent",
    "--new-session",
    "--hostname",
    "sandbox",
    "--ro-bind",
    "/",
    "/",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
)


def container_engine(host: HostProbe) -> str:
    """``podman``, ``docker``, ``container`` (another engine) or ``""`` (not in a container)."""
    if host.exists("/run/.containerenv"):
        return "podman"
    if host.exists("/.dockerenv"):
        return "docker"
    cgroup = host.read("/proc/1/cgroup") or ""
    if "libpod" in cgroup:
        return "podman"
    if "docker" in cgroup:
        return "docker"
    if "kubepods" in cgroup or "containerd" in cgroup:
        return "container"
    return ""


@record
class SandboxProbe:
    """What the probe found: ``works``, and for each refused feature bwrap's message + fix."""

    works: bool
    engine: str
    refused: tuple[tuple[str, str, str], ...] = ()  # (feature, bwrap said, fix)
    output: str = ""  # the full run's message when no single feature explains it


def fix_for(feature: Feature, engine: str) -> str:
    if engine == "podman":
        return f"run the container with {feature.podman}"
    if engine == "docker":
        return f"run the container with {feature.docker}"
    return feature.other


def probe_sandbox(host: HostProbe, bwrap: str) -> SandboxProbe:
    """Run the full sandbox; on failure find which features are refused and why."""
    engine = container_engine(host)
    status, out = host.run([bwrap, *FULL, "true"])
    if status == 0:
        return SandboxProbe(works=True, engine=engine)
    refused = []
    for feature in FEATURES:
        code, said = host.run([bwrap, *_BASE, *feature.argv, "true"])
        if code != 0:
            refused.append((feature.name, said, fix_for(feature, engine)))
    return SandboxProbe(works=False, engine=engine, refused=tuple(refused), output=out)
