"""The modules of the cold start-up path (``run -- true``, no plan cache) import no TLS, no IP
parsing, no network, no threads and no ``dataclasses`` at module level.
tests/sandbox/test_startup_imports.py runs the real command lines; this one needs no bwrap. No
timing is asserted."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: the modules ``agent-sandbox run -- true`` loads with the cache off (see the sandbox test)
RUN_PATH = (
    "bwsandbox.cli",
    "bwsandbox.cli._dispatch",
    "bwsandbox.cli._runcmd",
    "bwsandbox.cli._plancache",
    "bwsandbox.cli._resolve",
    "bwsandbox._prepare",
    "bwsandbox._audit",
    "bwsandbox.policy._load",
    "bwsandbox.compile._compiler",
    "bwsandbox.compile._limits",
    "bwsandbox.compile._seccomp_shipped",
    "bwsandbox.runtime._prepared",
    "bwsandbox.runtime._probe",
    "bwsandbox.runtime._workdir",
    "bwsandbox.runtime._sandbox",
)
FORBIDDEN = (
    "ssl",
    "_ssl",
    "cryptography",
    "ipaddress",
    "socket",
    "threading",
    "ctypes",
    "typer",
    "subprocess",
    "tempfile",
    "pathlib",
    "platformdirs",
    "tomllib",  # the shipped policies' values are stored (policy/_shipped.py)
    "datetime",
    "json",  # written by bwsandbox._jsontext; read only off the start-up path
    "fnmatch",  # env globs: plain names and NAME_* are matched without it
    "string",  # came with tomllib
    "typing",  # came with tomllib; bwsandbox's modules use TYPE_CHECKING = False
    # no regex on this path: the modules that use one import re where they do (pip's
    # console-script wrapper imports re itself; `python -m bwsandbox.cli` and the library not)
    "re",
    "struct",  # the seccomp program is packed with int.to_bytes
    # the shipped policies' syscall filters are stored (compile/_seccomp_shipped.py): the
    # builder and the syscall table load only for other seccomp values
    "bwsandbox.compile._seccomp",
    "bwsandbox.policy._syscalls",
    "bwsandbox.policy._model_seccomp",
    # the ssh, secrets and MCP checks: on their first use (policy/_schema.py _later)
    "bwsandbox.policy._checks_secrets",
    "bwsandbox.policy._checks_mcp",
    "bwsandbox.net",
    "bwsandbox._netrules",
    "bwsandbox.compile._delivery",
    "bwsandbox.agents",
    "bwsandbox.cli._recipe",
    "bwsandbox.cli._fastlaunch",
    # the value classes are @record (bwsandbox/_record.py): dataclasses and what it imports
    # (inspect: ast, dis, tokenize) cost 5-13 ms and its generated methods 18 ms
    "dataclasses",
    "inspect",
    "ast",
    "dis",
    "tokenize",
)


#: what a filtered session loads before its command runs: the session, then in ``attach``
#: the gate, the serving loop and the control socket
ATTACH_PATH = (
    "bwsandbox.net._session",
    "bwsandbox.net._gate",
    "bwsandbox.net._serve",
    "bwsandbox.net._control",
    "bwsandbox.net._live",
)
#: loaded by the namespace helper (after its fork), by the first connection or lookup
#: (the proxy, the DNS responder), by the first watcher (queue), or at teardown after a
#: denial: never by the session before its command runs
NOT_ATTACH = (
    "ssl",
    # a filtered start reads no JSON (the control socket's first request loads json), checks
    # its rules without a regex (an inspecting rule's path glob loads re when it is matched),
    # and its Protocols are type-only
    "json",
    "re",
    "typing",
    "resource",  # the proxy's descriptor limit is raised when its threads start
    "ctypes",
    "queue",
    "shlex",
    "json",  # the control socket's messages: with the first one
    "typing",  # the gate's Protocols and AuditSink are for the type checker only
    "bwsandbox.net._netlink",
    "bwsandbox.net._nft",
    "bwsandbox.net._proxy",
    "bwsandbox.net._dns",
    "bwsandbox.net._http1",
    "bwsandbox.net._sniff",
    "bwsandbox.net._inject",
    "bwsandbox.net._tls_ca",
    "bwsandbox.net._tls_inspect",
    "bwsandbox.net._remember",
    "bwsandbox.net._summary",
)


def _loaded_after(modules: tuple[str, ...], forbidden: tuple[str, ...] = FORBIDDEN) -> list[str]:
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(n for n in out if any(n == f or n.startswith(f + ".") for f in forbidden))


def test_the_cold_run_path_imports_none_of_them() -> None:
    assert _loaded_after(RUN_PATH) == []


def test_control_the_filtered_path_does_import_the_network() -> None:
    """The same check sees the modules a filtered session needs when it loads them."""
    found = _loaded_after((*RUN_PATH, "bwsandbox.net._session"))
    assert {"bwsandbox.net._session", "socket", "ipaddress"} <= set(found)
    assert "ssl" not in found, "TLS waits for the first inspected or injected request"


def test_control_dataclasses_is_seen_with_what_it_imports() -> None:
    """The same check sees ``dataclasses`` and its ``inspect`` when a record's dataclass view
    is asked for (``dataclasses.fields(Policy)`` imports them on first use)."""
    found = _loaded_after((*RUN_PATH, "bwsandbox.policy._model"))
    assert "dataclasses" not in found
    code = (
        "import sys, bwsandbox.policy._model as m\n"
        "m.Policy.__dataclass_fields__\n"
        "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"dataclasses", "inspect", "ast", "dis", "tokenize"} <= set(out)


#: Python code that records which bwsandbox modules use ``typing`` at run time: ``typing`` is
#: swapped in ``sys.modules`` for a module whose attribute lookups (``from typing import Any``,
#: ``typing.cast``) name the importing module. ``tomllib`` (the policy files) imports
#: ``typing`` itself, so the pin is on bwsandbox's own modules: none of those on the start-up
#: path imports it (``from __future__ import annotations`` and ``TYPE_CHECKING = False``;
#: typing-only names under ``if TYPE_CHECKING:``). Then ``RUN`` runs; at exit the users are
#: printed on stderr as ``typing users: NAME...``.
TYPING_TRIPWIRE = textwrap.dedent(
    """
    import atexit, sys, types, typing
    _real, _users = typing, set()

    class _Tripwire(types.ModuleType):
        def __getattr__(self, name):
            user = sys._getframe(1).f_globals.get("__name__", "")
            if user.startswith("bwsandbox"):
                _users.add(user)
            return getattr(_real, name)

    sys.modules["typing"] = _Tripwire("typing")
    atexit.register(lambda: print("typing users:", *sorted(_users), file=sys.stderr))
    """
)


def typing_users(stderr: str) -> list[str]:
    """The modules a ``TYPING_TRIPWIRE`` run reported."""
    lines = [line for line in stderr.splitlines() if line.startswith("typing users:")]
    assert len(lines) == 1, stderr
    return lines[0].split()[2:]


def _typing_users_after(modules: tuple[str, ...]) -> list[str]:
    code = TYPING_TRIPWIRE + f"for m in {modules!r}: __import__(m)\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return typing_users(result.stderr)


def test_the_cold_run_path_modules_do_not_use_typing() -> None:
    assert _typing_users_after(RUN_PATH) == []


def test_control_a_module_that_uses_typing_is_reported() -> None:
    """``bwsandbox._api`` needs ``typing`` at run time (``overload``, ``TypeVar``), and
    ``AuditSink`` builds its ``Protocol`` when asked for: the tripwire sees both."""
    found = _typing_users_after((*RUN_PATH, "bwsandbox._api"))
    assert "bwsandbox._api" in found
    code = TYPING_TRIPWIRE + "import bwsandbox._audit as a\na.AuditSink\n"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert typing_users(result.stderr) == ["bwsandbox._audit"]


def _path_modules(*, tomllib_stub: bool) -> set[str]:
    stub = "import types\nsys.modules['tomllib'] = types.ModuleType('tomllib')\n"
    code = (
        "import sys\n"
        + (stub if tomllib_stub else "")
        + f"for m in {RUN_PATH!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_without_tomllib_the_path_imports_no_typing() -> None:
    """Only ``tomllib`` brings ``typing`` onto this path: with an empty stand-in for it (the
    modules import it but call it only to read a policy file), ``typing`` is not loaded."""
    assert "typing" not in _path_modules(tomllib_stub=True)


def test_typing_is_on_the_path_only_with_tomllib() -> None:
    """The control for the test above (``tomllib`` does import ``typing``, and the check sees
    it), and the pin once the shipped policies are read without ``tomllib``: then neither."""
    loaded = _path_modules(tomllib_stub=False)
    assert ("typing" in loaded) == ("tomllib" in loaded)


def test_a_filtered_session_loads_no_proxy_helper_or_tls_before_the_command() -> None:
    assert _loaded_after((*RUN_PATH, *ATTACH_PATH), NOT_ATTACH) == []


def test_a_filtered_session_modules_do_not_use_typing() -> None:
    assert _typing_users_after((*RUN_PATH, *ATTACH_PATH)) == []


def test_control_the_first_control_request_loads_json() -> None:
    """The same check sees ``json`` and ``re`` when a request is parsed and an inspecting
    rule's path is matched."""
    code = (
        "import sys\n"
        f"for m in {(*RUN_PATH, *ATTACH_PATH)!r}: __import__(m)\n"
        "from bwsandbox.net._live import parse_request\n"
        "from bwsandbox._netrules import parse_rule\n"
        'parse_request(b\'{"op": "watch"}\')\n'
        "parse_rule('GET web.test/a/*', allow=True).allows_request('GET', '/a/b')\n"
        "print('\\n'.join(sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert {"json", "re"} <= set(out)


def test_control_the_first_connection_loads_the_proxy() -> None:
    """The same check sees the proxy's modules when the first connection loads them."""
    found = _loaded_after((*RUN_PATH, *ATTACH_PATH, "bwsandbox.net._proxy"), NOT_ATTACH)
    assert {"bwsandbox.net._proxy", "bwsandbox.net._http1", "bwsandbox.net._sniff"} <= set(found)


#: an agent's injected key, as its layer states it (``agents._prepare._injected_secret``)
_INJECTED_KEY = (
    "import sys\n"
    "from bwsandbox.policy import read_overlays\n"
    "table = {'source': 'env:ANTHROPIC_API_KEY', 'deliver': 'proxy', 'host': 'api.anthropic.com',"
    " 'header': 'x-api-key', 'template': '{secret}', 'env': 'ANTHROPIC_API_KEY'}\n"
    "read_overlays([('agent claude', {'secrets': {'anthropic_api_key': table}})])\n"
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return set(out)


def test_an_agents_injected_key_is_checked_without_re() -> None:
    """The secret's name and header are checked by hand (``_checks_secrets``): an agent start
    with a key loads no ``re`` (~1.5 ms to import and compile under ``python -m``)."""
    found = _modules_after(_INJECTED_KEY)
    assert "bwsandbox.policy._checks_secrets" in found, "control: the secret was checked"
    assert "re" not in found


def test_control_a_check_that_uses_re_is_seen() -> None:
    """The same check sees ``re`` when a secret check that still uses it runs (an SSH
    certificate's validity)."""
    code = _INJECTED_KEY + (
        "from bwsandbox.policy import _checks_secrets\n_checks_secrets.check_validity('1h')\n"
    )
    assert "re" in _modules_after(code)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"ssh": {"principals": [""]}}, "ssh.principals[0]"),
        ({"secrets": {"": {}}}, "secrets"),
        ({"mcp": {"servers": {"x": 3}}}, "mcp.servers.x"),
    ],
)
def test_the_lazy_ssh_secrets_and_mcp_checks_still_check(raw: dict[str, object], key: str) -> None:
    """Control for the lazy checks (policy/_schema.py ``_later``): a layer setting those
    keys loads them and a bad value is refused with the key named, as before."""
    from bwsandbox._errors import PolicyError
    from bwsandbox.policy._validate import read_layer

    with pytest.raises(PolicyError) as caught:
        read_layer(raw, "t.toml")
    assert key in str(caught.value)
