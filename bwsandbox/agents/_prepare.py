"""``prepare_agent``: from an agent name, a client and the host environment to a launch.

The result names the shipped profile (network hosts, environment) and adds one raw policy
layer computed here: the agent binary bound read-only, the client's compartment bound at the
agent's state paths, and the login (an API key variable, or the host's login file mounted
read-only).
"""


# os-level on purpose, like the runtime (lstat, O_NOFOLLOW, no pathlib import)
# ruff: noqa: PTH108, PTH116, PTH117, PTH118, PTH119

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping, Sequence

from bwsandbox._errors import PolicyError, WorkspaceError
from bwsandbox._guard import check_project
from bwsandbox._record import field, record, replace
from bwsandbox.agents._compartment import Compartment, open_compartment
from bwsandbox.agents._discover import AgentBinary, find_agent
from bwsandbox.agents._specs import AGENT_SPECS, KNOWN_AGENTS, SANDBOX_BIN, AgentSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["AgentLaunch", "agent_spec", "prepare_agent"]


@record
class AgentLaunch:
    """What the CLI needs to start an agent: policies, one extra layer, argv, and notes.

    ``overlays`` are raw policy layers in the TOML layout, to be passed to
    ``load_policy(policy_refs, overlays=...)`` before the command line's own layer.
    """

    policy_refs: tuple[str, ...]
    overlays: tuple[tuple[str, dict[str, Any]], ...]
    command: tuple[str, ...]
    notes: tuple[str, ...]
    #: builds the same launch with API keys passed as environment variables instead of
    #: injected by the proxy, for a merged policy whose network mode is not ``filtered`` (no
    #: proxy); None when nothing is injected. Built only when needed: the key's value is
    #: held by no launch that injects it.
    plain: Callable[[], AgentLaunch] | None = field(default=None, repr=False, compare=False)

    def for_network(self, filtered: bool) -> AgentLaunch:
        """The launch for the merged policy's network mode (``filtered`` or not)."""
        return self if filtered or self.plain is None else self.plain()


def agent_spec(name: str) -> AgentSpec:
    """The spec of a known agent; a PolicyError listing the known ones otherwise."""
    spec = AGENT_SPECS.get(name)
    if spec is None:
        raise PolicyError(
            f"unknown agent {name!r}",
            hint=f"known agents: {', '.join(KNOWN_AGENTS)}; "
            "for another command use 'agent-sandbox run --policy FILE -- COMMAND'",
        )
    return spec


def _literal(text: str) -> str:
    """``text`` as a policy string: braces escaped so that no variable is expanded."""
    return text.replace("{", "{{").replace("}", "}}")


def _bind(src: str, dest: str | None = None) -> dict[str, Any]:
    return {"src": _literal(src), "dest": dest or _literal(src), "optional": False}


def _home_dest(relative: str) -> str:
    return "{home}/" + _literal(relative)


def _tilde(path: str, home: str) -> str:
    if home and path.startswith(home.rstrip("/") + "/"):
        return "~/" + path[len(home.rstrip("/")) + 1 :]
    return path


def _host_login_file(spec: AgentSpec, relative: str, environ: Mapping[str, str]) -> str:
    moved = environ.get(spec.oauth_home_var) if spec.oauth_home_var else None
    if moved and os.path.isabs(moved):
        return os.path.join(moved, relative.split("/", 1)[1])
    home = environ.get("HOME", "")
    return os.path.join(home, relative) if home else ""


def _regular_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _drop_empty_placeholder(compartment: Compartment, relative: str) -> None:
    """Remove an empty file left behind by an earlier read-only login mount."""
    path = compartment.state_path(relative)
    try:
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and info.st_size == 0:
            os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise WorkspaceError(f"cannot tidy {path}: {exc.strerror or exc}") from exc


@record(frozen=False)
class _Layer:
    """The agent profile's policy layer, as it is built."""

    ro: list[dict[str, Any]]
    rw: list[dict[str, Any]]
    env: dict[str, str]
    notes: list[str]
    secrets: dict[str, Any] = field(default_factory=dict)  # [secrets.NAME] for the proxy


def _login(
    spec: AgentSpec,
    environ: Mapping[str, str],
    compartment: Compartment,
    layer: _Layer,
    *,
    inject: bool = True,
) -> None:
    for name in spec.url_vars:
        if environ.get(name):
            layer.env[name] = _literal(environ[name])
    keys = [name for name in spec.key_vars if environ.get(name)]
    if keys:
        for name in keys:
            secret = _injected_secret(spec, name, environ) if inject else None
            if secret is not None:  # the proxy adds it; the sandbox holds a placeholder
                layer.secrets[name.lower()] = secret
                layer.notes.append(f"login: {name} is injected by the proxy for {secret['host']}")
            else:
                layer.env[name] = _literal(environ[name])
        for relative in spec.oauth_files:
            _drop_empty_placeholder(compartment, relative)
        layer.notes.append(
            f"login: {', '.join(keys)} from your environment, passed to {spec.name} only"
        )
        return
    own = [rel for rel in spec.oauth_files if compartment.has_own_file(rel)]
    if own:
        layer.notes.append(
            f"login: client {compartment.client!r}'s own {spec.name} login (kept in its "
            "compartment)"
        )
        return
    home = environ.get("HOME", "")
    mounted = []
    for relative in spec.oauth_files:
        host_file = _host_login_file(spec, relative, environ)
        if host_file and _regular_file(host_file):
            compartment.placeholder(relative)
            layer.ro.append(_bind(os.path.realpath(host_file), _home_dest(relative)))
            mounted.append(_tilde(host_file, home))
        else:
            _drop_empty_placeholder(compartment, relative)
    if mounted:
        layer.notes.append(
            f"login: using your {spec.name} login ({', '.join(mounted)}) read-only; "
            "token refreshes are not saved, and a login inside the sandbox cannot replace it"
        )
        return
    wanted = " or ".join(spec.key_vars[:1] or ("an API key",))
    layer.notes.append(
        f"login: none found; set {wanted}, or log in inside the sandbox "
        f"(saved for client {compartment.client!r} only)"
    )


def _binary(
    spec: AgentSpec, agent: AgentBinary, compartment: Compartment, layer: _Layer, home: str
) -> str:
    layer.ro.extend(_bind(path) for path in agent.binds)
    compartment.link_bin(spec.binary, agent.path)
    if agent.interpreter:
        compartment.link_bin(os.path.basename(agent.interpreter), agent.interpreter)
    layer.ro.append(_bind(compartment.bin, SANDBOX_BIN))
    shown = ", ".join(_tilde(path, home) for path in agent.binds) or "nothing extra"
    layer.notes.append(f"{spec.name}: {_tilde(agent.path, home)} (read-only binds: {shown})")
    return os.path.join(SANDBOX_BIN, spec.binary)


def _config_args(spec: AgentSpec, environ: Mapping[str, str]) -> list[str]:
    """``-c key="value"`` options for base URLs the agent takes only from its config."""
    args = []
    for name, key in spec.url_config:
        if environ.get(name):
            import json  # codex with a base URL of the user's only: not on the start-up path

            args += ["-c", f"{key}={json.dumps(environ[name])}"]
    return args


def _injected_secret(
    spec: AgentSpec, var: str, environ: Mapping[str, str]
) -> dict[str, Any] | None:
    """The ``[secrets.NAME]`` table that has the proxy inject ``var`` (see
    :class:`~bwsandbox.agents._specs.InjectedKey`), or None: deliver it as a variable."""
    key = next((key for key in spec.injected if key.var == var), None)
    if key is None or not environ.get(var) or environ.get(key.base_url_var):
        return None
    table: dict[str, Any] = {
        "source": f"env:{var}",
        "deliver": "proxy",
        "host": key.host,
        "header": key.header,
        "template": key.template,
        "env": var,
    }
    if not key.config_key:
        table["base_url_env"] = key.base_url_var
    return table


def _injected_config_args(spec: AgentSpec, secrets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``-c KEY="http://ENDPOINT/PATH"`` for injected keys of agents that take no base-URL
    variable (codex), pointing them at the proxy's plain-HTTP endpoint inside the sandbox."""
    args: list[str] = []
    for key in spec.injected:
        table = secrets.get(key.var.lower())
        if key.config_key and table is not None:
            from bwsandbox.compile import endpoint_for

            url = f"http://{endpoint_for(str(table['host']))}{key.base_url_path}"
            args += ["-c", f'{key.config_key}="{url}"']
    return args


def _check_project(project: str, environ: Mapping[str, str]) -> None:
    """The one project guard (``_guard.check_project``); it also refuses a project that
    contains every client's compartments (they live in the data dir)."""
    check_project(project, environ)


def prepare_agent(
    name: str,
    *,
    client: str,
    project: str,
    environ: Mapping[str, str],
    agent_args: Sequence[str],
    resume: bool = False,
    inject_keys: bool = True,
    guard: bool = True,
) -> AgentLaunch:
    """Everything needed to run agent ``name`` for ``client`` on ``project``.

    Side effects: creates the client's compartment (0700) on first use and refreshes its bin
    links. Raises PolicyError (unknown agent, bad client name, no resume support),
    DependencyError (agent not installed) or WorkspaceError. API keys are injected by the
    filtered proxy where the agent supports it; the result's ``plain`` (see
    :meth:`AgentLaunch.for_network`) passes them as environment variables instead, for a
    merged policy without the proxy. ``inject_keys=False`` returns that variant directly.
    ``guard=False``: the caller already passed ``project`` through the project guard
    (:func:`bwsandbox._prepare.resolve` does, and gives its real path).
    """
    spec = agent_spec(name)
    if isinstance(agent_args, str):
        raise PolicyError("agent_args must be a sequence of arguments, not one string")
    if resume and spec.resume is None:
        raise PolicyError(f"{spec.name} has no way to continue its last conversation")
    if guard:
        _check_project(project, environ)
    agent = find_agent(spec, environ)
    compartment = open_compartment(spec, client)
    home = environ.get("HOME", "")
    base = _Layer(ro=[], rw=[], env={}, notes=[])
    executable = _binary(spec, agent, compartment, base, home)
    for relative in spec.state_dirs:
        base.rw.append(_bind(compartment.state_path(relative), _home_dest(relative)))
    for relative, _content in spec.state_files:
        base.rw.append(_bind(compartment.state_path(relative), _home_dest(relative)))
    args = list(agent_args)
    if resume and spec.resume:
        at = 1 if args and args[0] in spec.resume_after else 0
        args[at:at] = spec.resume
    launch = _launch(spec, base, compartment, environ, (executable, args), inject=inject_keys)
    if inject_keys and any("secrets" in overlay for _, overlay in launch.overlays):
        launch = replace(
            launch,
            plain=lambda: _launch(
                spec, base, compartment, environ, (executable, args), inject=False
            ),
        )
    return launch


def _launch(
    spec: AgentSpec,
    base: _Layer,
    compartment: Compartment,
    environ: Mapping[str, str],
    argv: tuple[str, list[str]],
    *,
    inject: bool,
) -> AgentLaunch:
    """The launch from the base layer (binary, state) plus the login, injected or not."""
    home = environ.get("HOME", "")
    layer = _Layer(ro=list(base.ro), rw=list(base.rw), env={}, notes=list(base.notes))
    _login(spec, environ, compartment, layer, inject=inject)
    layer.notes.append(
        f"client {compartment.client!r}: {spec.name} state in {_tilde(compartment.root, home)}"
    )
    overlay: dict[str, Any] = {"filesystem": {"ro": layer.ro, "rw": layer.rw}}
    if layer.env:
        overlay["env"] = {"set": layer.env}
    if layer.secrets:
        overlay["secrets"] = layer.secrets
    executable, args = argv
    injected = _injected_config_args(spec, layer.secrets)
    command = (executable, *_config_args(spec, environ), *injected, *args)
    return AgentLaunch(
        policy_refs=(spec.name,),
        overlays=((f"agent {spec.name}", overlay),),
        command=command,
        notes=tuple(layer.notes),
    )
