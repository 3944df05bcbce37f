"""Debian's Chromium under ``--policy browser``: filtered egress, its own sandbox nested in ours.

- An allowed name (a page on host loopback under ``--add-host``) is rendered; a name that is
  not allowed never reaches the server (control: the same server, allowed, is reached).
- The renderer gets Chromium's own sandbox inside ours: its own user, PID and network
  namespaces, an empty chroot and a second seccomp filter. Control: with Chromium's
  ``--no-sandbox`` under an outer sandbox without nested user namespaces, the renderer shares
  the sandbox's namespaces, root and single filter (and Chromium refuses to start at all
  without ``--no-sandbox`` there).
- The policy relaxes namespaces, not mounts: a nested user namespace still cannot mount
  (control: the same with ``nested_userns`` alone mounts).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Cli

from .conftest import MARKER, QUIET, Site

pytestmark = [pytest.mark.slow, pytest.mark.bwrap, pytest.mark.userns, pytest.mark.netns]


def _net_events(cli: Cli) -> list[dict[str, object]]:
    logs = cli("logs")
    assert logs.returncode == 0, logs.describe()
    events = [json.loads(line) for line in logs.stdout.splitlines() if line.strip()]
    return [e for e in events if e.get("event") == "net"]


def test_dump_dom_of_an_allowed_site(cli: Cli, site: Site, chromium: str) -> None:
    url = f"http://site.test:{site.port}/"
    result = cli(
        "run", "--policy", "browser", "--add-host", "site.test=127.0.0.1",
        "--allow", f"site.test:{site.port}", "--",
        "chromium", "--headless", *QUIET, "--dump-dom", url,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    assert f"<h1>{MARKER}</h1>" in result.stdout, result.describe()
    assert f"site.test:{site.port}" in site.hosts


def test_a_name_not_allowed_never_reaches_the_server(cli: Cli, site: Site, chromium: str) -> None:
    result = cli(
        "run", "--policy", "browser", "--add-host", "site.test=127.0.0.1",
        "--add-host", "other.test=127.0.0.1", "--allow", f"site.test:{site.port}", "--",
        "chromium", "--headless", *QUIET, "--dump-dom", f"http://other.test:{site.port}/",
    )  # fmt: skip
    assert MARKER not in result.stdout, result.describe()
    assert site.hosts == [], site.hosts
    events = _net_events(cli)
    assert any(e["host"] == "other.test" and e["decision"] == "deny" for e in events), events


# Runs inside the sandbox: starts Chromium on the page, waits for a renderer, reports how it
# is confined compared with the process that started it.
_INSPECT = r"""
import json, os, subprocess, sys, time
def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out
def info(pid):
    ns = {n: os.readlink(f"/proc/{pid}/ns/{n}") for n in ("user", "pid", "net")}
    return {**ns, "root": os.readlink(f"/proc/{pid}/root"),
            "filters": int(status(pid).get("Seccomp_filters", "0"))}
log = open("/tmp/chromium.log", "w+b")  # a file: a full pipe would stall Chromium
browser = subprocess.Popen(["chromium", "--headless", *sys.argv[2:], "--remote-debugging-port=0",
                            sys.argv[1]], stdout=subprocess.DEVNULL, stderr=log)
found = None
for _ in range(300):
    for pid in os.listdir("/proc"):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read()  # zygote children: one string
        except OSError:
            continue
        if argv.startswith(b"/usr/lib/chromium/") and b"--type=renderer" in argv:
            found = pid
            break
    if found or browser.poll() is not None:
        break
    time.sleep(0.1)
mine = info(os.getpid())
renderer = None
for _ in range(30):  # a renderer just forked has not sandboxed itself yet
    renderer = info(found) if found else None
    if renderer is None or renderer["filters"] > mine["filters"]:
        break
    time.sleep(0.1)
report = {"self": mine, "renderer": renderer}
browser.kill()
browser.wait()
log.seek(0)
report["stderr"] = b"".join(l for l in log if b"dbus" not in l).decode(errors="replace")[-2000:]
print(json.dumps(report))
"""


def _inspect(cli: Cli, site: Site, *extra: str, policies: tuple[str, ...]) -> dict[str, object]:
    layers = [arg for name in policies for arg in ("--policy", name)]
    result = cli(
        "run", *layers, "--add-host", "site.test=127.0.0.1",
        "--allow", f"site.test:{site.port}", "--",
        "python3", "-c", _INSPECT, f"http://site.test:{site.port}/", *QUIET, *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.describe()
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_renderer_keeps_chromium_sandbox_inside_ours(cli: Cli, site: Site, chromium: str) -> None:
    report = _inspect(cli, site, policies=("browser",))
    mine, renderer = report["self"], report["renderer"]
    assert isinstance(mine, dict), report
    assert isinstance(renderer, dict), report
    for ns in ("user", "pid", "net"):
        assert renderer[ns] != mine[ns], (ns, report)
    assert renderer["root"] != "/", report  # chrooted to an empty directory
    assert renderer["filters"] >= mine["filters"] + 1, report  # ours, then Chromium's


def test_control_no_sandbox_renderer_has_one_layer(
    cli: Cli, site: Site, chromium: str, tmp_path: Path
) -> None:
    flat = tmp_path / "flat.toml"
    flat.write_text("[hardening]\nnested_userns = false\n")
    refused = _inspect(cli, site, policies=("browser", str(flat)))
    assert refused["renderer"] is None, refused  # the outer sandbox forbids Chromium's own
    assert "No usable sandbox" in str(refused["stderr"]), refused
    report = _inspect(cli, site, "--no-sandbox", policies=("browser", str(flat)))
    mine, renderer = report["self"], report["renderer"]
    assert isinstance(mine, dict), report
    assert isinstance(renderer, dict), report
    for key in ("user", "pid", "net", "root", "filters"):
        assert renderer[key] == mine[key], (key, report)


_MOUNT = "unshare --user --map-root-user --mount --propagation unchanged mount -t tmpfs x /tmp"


def test_nested_namespaces_still_cannot_mount(cli: Cli) -> None:
    result = cli("run", "--policy", "browser", "--", "sh", "-c", f"{_MOUNT} && echo MOUNTED")
    assert "MOUNTED" not in result.stdout, result.describe()
    assert "permission denied" in result.stderr.lower(), result.describe()  # EPERM


def test_control_nested_namespaces_alone_can_mount(cli: Cli, tmp_path: Path) -> None:
    nested = tmp_path / "nested.toml"
    nested.write_text('extends = ["base"]\n[hardening]\nnested_userns = true\n')
    result = cli("run", "--policy", str(nested), "--", "sh", "-c", f"{_MOUNT} && echo MOUNTED")
    assert "MOUNTED" in result.stdout, result.describe()
