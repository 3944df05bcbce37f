"""Attacks: reading host secrets from inside the default (base) sandbox.

Each attack is paired with a positive control showing the same read works when the path is
explicitly granted (``--ro``) or from the host, so a pass means the defence held, not that the
attack was mis-written.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .conftest import Canary, SandboxRunner

pytestmark = [
    pytest.mark.bwrap,
    pytest.mark.userns,
    pytest.mark.parametrize("sbx", ["cold", "warm"], indirect=True),
]


def _homes() -> list[Path]:
    """The invoking user's real home (passwd) and $HOME, when they differ."""
    homes = [Path(pwd.getpwuid(os.getuid()).pw_dir)]
    env_home = os.environ.get("HOME")
    if env_home and Path(env_home) not in homes:
        homes.append(Path(env_home))
    return [home for home in homes if home.is_dir() and os.access(home, os.W_OK)]


def test_real_home_canary_is_not_readable(sbx: SandboxRunner, canary: Canary) -> None:
    homes = _homes()
    assert homes, "the test user needs a writable home"
    for home in homes:
        path = home / f".bwsbx-canary-{os.getpid()}"
        secret = canary(path)
        attack = sbx.sh(f"cat {path}; ls -A {home}; cat $HOME/{path.name}")
        assert secret not in attack.stdout, attack.describe()
        assert path.name not in attack.stdout, attack.describe()
        # Control: granted explicitly, the very same read works.
        granted = sbx.sh(f"cat {path}", "--ro", str(path))
        assert granted.returncode == 0, granted.describe()
        assert secret in granted.stdout


def test_host_home_dotfiles_are_not_visible(sbx: SandboxRunner, tmp_path: Path) -> None:
    """A home full of credentials (ssh keys, cloud and forge tokens) given as $HOME."""
    home = tmp_path / "host-home"
    secrets_by_file = {
        ".ssh/id_ed25519": "ssh-private-key-canary",
        ".aws/credentials": "aws-secret-canary",
        ".config/gh/hosts.yml": "gh-token-canary",
        ".netrc": "netrc-password-canary",
        ".docker/config.json": "docker-auth-canary",
        ".kube/config": "kube-token-canary",
    }
    for name, value in secrets_by_file.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(value)
    paths = " ".join(str(home / name) for name in secrets_by_file)
    attack = sbx.sh(
        f"cat {paths}; ls -laR {home}; cat $HOME/.ssh/id_ed25519 ~/.aws/credentials",
        env={"HOME": str(home)},
    )
    for value in secrets_by_file.values():
        assert value not in attack.stdout, attack.describe()
    assert "id_ed25519" not in attack.stdout, attack.describe()
    granted = sbx.sh(f"cat {home}/.ssh/id_ed25519", "--ro", str(home / ".ssh"))
    assert "ssh-private-key-canary" in granted.stdout, granted.describe()


def test_sibling_project_is_not_readable(sbx: SandboxRunner, project: Path, canary: Canary) -> None:
    sibling = project.parent / "other-client"
    secret = canary(sibling / "secrets.env")
    attack = sbx.sh(f"cat ../other-client/secrets.env {sibling}/secrets.env; ls -A ..")
    assert secret not in attack.stdout, attack.describe()
    assert "other-client" not in attack.stdout, attack.describe()
    granted = sbx.sh(f"cat {sibling}/secrets.env", "--ro", str(sibling))
    assert secret in granted.stdout, granted.describe()


def test_etc_shadow_and_other_host_etc_secrets_are_absent(sbx: SandboxRunner) -> None:
    attack = sbx.sh(
        "cat /etc/shadow /etc/gshadow /etc/sudoers; ls -A /etc; ls -A /etc/ssh; "
        "cat /etc/ssh/ssh_host_*_key"
    )
    assert "root:" not in attack.stdout, attack.describe()
    assert "PRIVATE KEY" not in attack.stdout, attack.describe()
    listing = set(attack.stdout.split())
    for name in ("shadow", "gshadow", "sudoers", "ssh", "sudoers.d", "machine-id"):
        assert name not in listing, f"/etc/{name} visible\n{attack.describe()}"


@pytest.mark.root
def test_etc_shadow_would_leak_if_bound_when_invoked_as_root(sbx: SandboxRunner) -> None:
    """Control for the test above: as root a bound /etc/shadow is readable, so not binding
    it (a curated /etc) is what keeps it out."""
    host_shadow = Path("/etc/shadow").read_text()
    assert host_shadow.startswith("root:")
    granted = sbx.sh("cat /etc/shadow", "--ro", "/etc/shadow")
    assert "root:" in granted.stdout, granted.describe()


def test_root_home_and_other_homes_are_not_visible(sbx: SandboxRunner) -> None:
    own_home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    host_entries: set[str] = set()
    if os.access("/root", os.R_OK):
        host_entries |= {p.name for p in Path("/root").iterdir()}
    others = [entry.name for entry in Path("/home").iterdir() if entry != own_home]
    attack = sbx.sh("ls -A /root; ls -A /home")
    visible = set(attack.stdout.split())
    leaked = (host_entries - {".", ".."}) & visible
    assert not leaked, f"host /root entries visible: {leaked}\n{attack.describe()}"
    assert not set(others) & visible, attack.describe()
    if os.geteuid() == 0:
        # Control: invoked as root the host /root is readable, the defence is not binding it.
        assert host_entries, "expected a non-empty /root on the host"


def test_no_canary_anywhere_in_the_sandbox(
    sbx: SandboxRunner, project: Path, tmp_path: Path, canary: Canary
) -> None:
    """One sweep of the whole sandbox filesystem for secrets planted around the host."""
    planted = {
        "home": _homes()[0] / f".bwsbx-canary-sweep-{os.getpid()}",
        "sibling": project.parent / "sibling" / "bwsbx-canary-sweep",
        "host-tmp": Path("/tmp") / f"bwsbx-canary-sweep-{os.getpid()}",
        "pytest-tmp": tmp_path / "bwsbx-canary-sweep",
    }
    values = {name: canary(path) for name, path in planted.items()}
    attack = sbx.sh(
        "find / \\( -path /proc -o -path /sys -o -path /dev -o -path /usr -o -path /nix \\) "
        "-prune "
        "-o -name '*bwsbx-canary-sweep*' -print 2>/dev/null; "
        "grep -rl bwsbx-canary- /tmp /home /root /run /var /etc /opt /srv /mnt 2>/dev/null; "
        "true"
    )
    assert attack.returncode == 0, attack.describe()
    for name, value in values.items():
        assert value not in attack.stdout, f"{name} canary read\n{attack.describe()}"
    assert "bwsbx-canary" not in attack.stdout, attack.describe()
