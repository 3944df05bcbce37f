"""A denied name fails at once, in every mode, with a "not found" that tools do not retry.

Without a network, glibc with the host's ``hosts: files dns`` and no reachable DNS server
answers "temporary failure" (``EAI_AGAIN``), which npm, pip and others retry for a minute or
more (npm install: 70 s measured). The sandbox's ``/etc/nsswitch.conf`` says ``hosts: files``
in ``none`` mode, and ``filtered`` mode's responder answers NXDOMAIN: both give
``EAI_NONAME`` at once. Package managers that retry even that get their retries turned off
in ``none`` mode (nothing could ever answer).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Cli

pytestmark = [pytest.mark.bwrap, pytest.mark.userns]

_LOOKUP = (
    "import socket\n"
    "try:\n"
    "    socket.getaddrinfo('registry.npmjs.org', 443)\n"
    "    print('resolved')\n"
    "except socket.gaierror as exc:\n"
    "    print('gaierror', exc.errno)\n"
)


@pytest.mark.parametrize("mode", ["none", "filtered"])
def test_an_unknown_name_is_not_found_never_try_again(cli: Cli, mode: str) -> None:
    result = cli("run", "--network", mode, "--", "python3", "-c", _LOOKUP)
    assert result.returncode == 0, result.describe()
    assert result.stdout.split() == ["gaierror", str(socket.EAI_NONAME)], result.describe()


def test_control_with_dns_in_the_list_and_no_server_it_is_try_again(tmp_path: Path) -> None:
    """Without the defence (a host-style ``hosts: files dns``, no reachable DNS): EAI_AGAIN."""
    nsswitch = tmp_path / "nsswitch.conf"
    nsswitch.write_text("hosts: files dns\n")
    done = subprocess.run(
        ["bwrap", "--unshare-user", "--unshare-net", "--ro-bind", "/", "/",
         "--ro-bind", str(nsswitch), "/etc/nsswitch.conf", "python3", "-c", _LOOKUP],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.stdout.split() == ["gaierror", str(socket.EAI_AGAIN)], done.stderr


def test_npm_gives_up_after_one_attempt_without_a_network(cli: Cli) -> None:
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (its retries are what this checks)")
    (cli.cwd / "package.json").write_text(
        '{"name": "x", "version": "1.0.0", "dependencies": {"left-pad": "1.3.0"}}\n'
    )
    result = cli(
        "run", "--", "npm", "install", "--no-audit", "--no-fund", "--loglevel", "http",
        timeout=60,
    )  # fmt: skip
    assert result.returncode != 0, result.describe()
    output = result.stdout + result.stderr
    assert "ENOTFOUND" in output, result.describe()
    assert "attempt 1 failed" in output, result.describe()
    assert "attempt 2" not in output, result.describe()
