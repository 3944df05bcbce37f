"""doctor's checks against a fake host: what it concludes and the exact fixes it prints."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bwsandbox.cli._render import doctor_lines
from bwsandbox.doctor import Check, Diagnosis, Status, apparmor_profile, diagnose

BWRAP = "/usr/bin/bwrap"


@dataclass
class FakeHost:
    uid: int = 1000
    files: dict[str, str] = field(default_factory=dict)
    bwrap: str | None = BWRAP
    version: str = "bubblewrap 0.8.0"
    userns_works: bool = True
    writable_paths: set[str] = field(default_factory=set)
    libraries: set[str] = field(default_factory=lambda: {"libnftables.so.1"})
    ran: list[list[str]] = field(default_factory=list)
    #: bwrap option -> the error bwrap prints when that feature is refused (a container)
    refuse: dict[str, str] = field(default_factory=dict)

    def read(self, path: str) -> str | None:
        return self.files.get(path)

    def exists(self, path: str) -> bool:
        return path in self.files

    def writable(self, path: str) -> bool:
        return path in self.writable_paths

    def which(self, name: str) -> str | None:
        return self.bwrap if name == "bwrap" else None

    def run(self, argv: list[str]) -> tuple[int, str]:
        self.ran.append(argv)
        if argv[1:] == ["--version"]:
            return 0, self.version
        for option, message in self.refuse.items():
            if option in argv:
                return 1, message
        if self.userns_works:
            return 0, ""
        return 1, "bwrap: setting up uid map: Permission denied"

    def has_library(self, soname: str) -> bool:
        return soname in self.libraries


def _by_name(diagnosis: Diagnosis) -> dict[str, Check]:
    return {check.name: check for check in diagnosis.checks}


def test_healthy_host_works() -> None:
    host = FakeHost(
        files={
            "/sys/fs/cgroup/cgroup.controllers": "cpu memory pids",
            "/proc/self/cgroup": "0::/user.slice/user-1000.slice/session-1.scope",
            "/sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope/cgroup.controllers": "pids",
            "/proc/sys/dev/tty/legacy_tiocsti": "0",
            "/proc/sys/user/max_user_namespaces": "63000",
        },
        writable_paths={"/sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope/cgroup.procs"},
    )
    diagnosis = diagnose(host)
    assert diagnosis.sandbox_works
    checks = _by_name(diagnosis)
    assert checks["bwrap"].status is Status.OK
    assert "0.8.0" in checks["bwrap"].summary
    assert checks["user namespaces"].status is Status.OK
    assert checks["sandbox"].status is Status.OK
    assert checks["cgroup v2"].status is Status.OK
    assert checks["filtered network"].status is Status.OK
    assert checks["dev.tty.legacy_tiocsti"].status is Status.OK
    lines = doctor_lines(diagnosis)
    assert lines[-1].startswith("Sandboxes work on this host")


def test_missing_bwrap_fails_with_the_install_command() -> None:
    diagnosis = diagnose(FakeHost(bwrap=None))
    assert not diagnosis.sandbox_works
    bwrap = _by_name(diagnosis)["bwrap"]
    assert bwrap.status is Status.FAIL
    assert any("install" in line for line in bwrap.fix)
    assert "do NOT work" in doctor_lines(diagnosis)[-1]


def test_old_bwrap_fails() -> None:
    diagnosis = diagnose(FakeHost(version="bubblewrap 0.4.1"))
    assert not diagnosis.sandbox_works
    assert "0.4.1" in _by_name(diagnosis)["bwrap"].summary


def test_ubuntu_apparmor_restriction_gets_the_exact_fix() -> None:
    host = FakeHost(
        userns_works=False,
        files={"/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"},
    )
    diagnosis = diagnose(host)
    assert not diagnosis.sandbox_works
    userns = _by_name(diagnosis)["user namespaces"]
    assert userns.status is Status.FAIL
    text = "\n".join(userns.fix)
    assert "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in text
    assert "sudo apparmor_parser -r /etc/apparmor.d/bwrap" in text
    assert "sudo tee /etc/apparmor.d/bwrap" in text
    assert "every program" in text, "the sysctl's caveat is said"
    assert _by_name(diagnosis)["kernel.apparmor_restrict_unprivileged_userns"].status is (
        Status.WARN
    )
    assert "sandbox" not in _by_name(diagnosis), "the full sandbox is not tried when userns fails"


def test_apparmor_profile_names_the_bwrap_binary_and_grants_userns() -> None:
    profile = apparmor_profile("/opt/bin/bwrap")
    assert "profile bwrap /opt/bin/bwrap" in profile
    assert "userns," in profile


@pytest.mark.parametrize(
    ("path", "value", "fix"),
    [
        (
            "/proc/sys/kernel/unprivileged_userns_clone",
            "0",
            "sudo sysctl -w kernel.unprivileged_userns_clone=1",
        ),
        ("/proc/sys/user/max_user_namespaces", "0", "sudo sysctl -w user.max_user_namespaces="),
    ],
)
def test_disabled_user_namespaces_get_their_sysctl(path: str, value: str, fix: str) -> None:
    diagnosis = diagnose(FakeHost(userns_works=False, files={path: value}))
    assert not diagnosis.sandbox_works
    assert any(fix in line for line in _by_name(diagnosis)["user namespaces"].fix)


def test_root_userns_check_says_root() -> None:
    diagnosis = diagnose(FakeHost(uid=0))
    assert "as root" in _by_name(diagnosis)["user namespaces"].summary


def test_missing_nftables_degrades_but_sandbox_works() -> None:
    diagnosis = diagnose(FakeHost(libraries=set()))
    assert diagnosis.sandbox_works
    check = _by_name(diagnosis)["filtered network"]
    assert check.status is Status.WARN
    assert any("libnftables1" in line for line in check.fix)
    assert "degraded" in doctor_lines(diagnosis)[-1]
    # the control: with the library, filtered mode is fine (no Python module is asked for)
    assert _by_name(diagnose(FakeHost()))["filtered network"].status is Status.OK


def test_cgroup_layouts() -> None:
    hybrid = diagnose(FakeHost(files={"/sys/fs/cgroup/unified/cgroup.controllers": ""}))
    assert _by_name(hybrid)["cgroup v2"].status is Status.WARN
    assert "hybrid" in _by_name(hybrid)["cgroup v2"].summary
    undelegated = diagnose(
        FakeHost(
            files={
                "/sys/fs/cgroup/cgroup.controllers": "cpu",
                "/proc/self/cgroup": "0::/system.slice/x.service",
            }
        )
    )
    check = _by_name(undelegated)["cgroup v2"]
    assert check.status is Status.WARN
    assert "not delegated" in check.summary


def test_tiocsti_enabled_is_information_with_the_host_fix() -> None:
    diagnosis = diagnose(FakeHost(files={"/proc/sys/dev/tty/legacy_tiocsti": "1"}))
    check = _by_name(diagnosis)["dev.tty.legacy_tiocsti"]
    assert check.status is Status.INFO
    assert any("legacy_tiocsti=0" in line for line in check.fix)


DOCKER_SECCOMP = "bwrap: Creating new namespace failed: Operation not permitted"
MASKED_PROC = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted"
NO_SETHOSTNAME = "bwrap: sethostname: Operation not permitted"


def test_docker_seccomp_is_named_with_its_flag_not_filed_under_sysctls() -> None:
    host = FakeHost(uid=0, files={"/.dockerenv": ""}, refuse={"--unshare-user": DOCKER_SECCOMP})
    diagnosis = diagnose(host)
    checks = _by_name(diagnosis)
    userns = checks["user namespaces"]
    assert userns.status is Status.FAIL
    text = "\n".join(userns.fix)
    assert "docker container" in text
    assert "--security-opt seccomp=unconfined" in text
    assert "sysctl" not in text
    assert checks["filtered network"].status is Status.FAIL, "no sandbox: nothing to filter"
    assert not diagnosis.sandbox_works


@pytest.mark.parametrize(
    ("engine_file", "refuse", "feature", "flag"),
    [
        ("/run/.containerenv", {"--proc": MASKED_PROC}, "/proc", "unmask=/proc/*"),
        ("/.dockerenv", {"--proc": MASKED_PROC}, "/proc", "systempaths=unconfined"),
        ("/run/.containerenv", {"--hostname": NO_SETHOSTNAME}, "hostname", "sethostname"),
        ("/.dockerenv", {"--hostname": NO_SETHOSTNAME}, "hostname", "seccomp=unconfined"),
    ],
)
def test_each_refused_feature_gets_the_engines_flag(
    engine_file: str, refuse: dict[str, str], feature: str, flag: str
) -> None:
    """doctor's probe includes --hostname and --proc (as run does): a container that refuses
    either is not reported as working, and the fix names the engine's flag."""
    host = FakeHost(files={engine_file: ""}, refuse=refuse)
    diagnosis = diagnose(host)
    checks = _by_name(diagnosis)
    assert checks["user namespaces"].status is Status.OK
    sandbox = checks["sandbox"]
    assert sandbox.status is Status.FAIL
    assert feature in sandbox.summary
    assert any(flag in line for line in sandbox.fix), sandbox.fix
    assert any(next(iter(refuse.values())) in line for line in sandbox.fix)
    assert checks["filtered network"].status is Status.FAIL
    assert doctor_lines(diagnosis)[-1].startswith("Sandboxes do NOT work")


def test_the_sandbox_probe_runs_what_run_needs() -> None:
    host = FakeHost()
    diagnose(host)
    [full] = [argv for argv in host.ran if "--unshare-all" in argv]
    for option in ("--hostname", "--proc", "--dev", "--disable-userns", "--cap-drop"):
        assert option in full
