"""What bwsandbox knows about each agent CLI: binary, npm package, state paths, login, resume.

The network hosts and the agent's environment live in its shipped policy
(``policies/<agent>.toml``), where users can read and override them; this module holds what
the launcher computes per host and per client.
"""

from __future__ import annotations

from bwsandbox._record import record

__all__ = ["AGENT_SPECS", "KNOWN_AGENTS", "SANDBOX_BIN", "AgentSpec", "InjectedKey"]

#: where the launcher's per-agent bin dir (symlinks to the agent and its interpreter) is bound
SANDBOX_BIN = "/run/agent-sandbox/bin"


@record
class AgentSpec:
    """One agent CLI.

    Paths in ``state_dirs``, ``state_files`` and ``oauth_files`` are relative to the home
    directory (the host's for ``oauth_files``, the sandbox's for the others).
    """

    name: str
    binary: str
    package: str  # npm package (install hint, and to find the package root)
    install: str  # how to install it, one line
    state_dirs: tuple[str, ...]
    state_files: tuple[tuple[str, bytes], ...] = ()  # (path, content when first created)
    key_vars: tuple[str, ...] = ()  # API key variables, passed only to this agent
    url_vars: tuple[str, ...] = ()  # base URL variables passed along when set
    #: base URL variables the agent reads only from its config: (variable, ``-c`` key)
    url_config: tuple[tuple[str, str], ...] = ()
    oauth_files: tuple[str, ...] = ()  # the host's login, mounted read-only when no key is set
    oauth_home_var: str = ""  # host variable that moves the agent's state dir (CODEX_HOME)
    resume: tuple[str, ...] | None = None  # args put first to continue the last conversation
    #: subcommands that take the resume args after them (``codex exec resume --last``)
    resume_after: tuple[str, ...] = ()
    extra_bin_dirs: tuple[str, ...] = ()  # home-relative dirs its own installer uses
    #: keys the proxy injects (a subset of ``key_vars``); the others go in as variables
    injected: tuple[InjectedKey, ...] = ()


@record
class InjectedKey:
    """An agent's API key the proxy adds to its requests (the sandbox holds a placeholder).

    When the key variable is set on the host and ``base_url_var`` is not (a custom base URL
    points somewhere else: the key then goes in as an environment variable), the agent's
    layer gets a ``[secrets.NAME]`` table with ``deliver = "proxy"``: the agent talks plain
    HTTP to ``http://HOST.proxy.internal`` (its base-URL variable is set to that), and the
    host-side proxy adds the header and forwards over verified TLS to ``https://HOST``.
    """

    var: str  # the key variable on the host (and the placeholder's name inside)
    host: str
    header: str
    template: str
    base_url_var: str  # set on the host: a custom base URL, so the key goes in as before
    #: agents that take their base URL only from config (codex): ``-c KEY="http://ENDPOINT"``
    config_key: str = ""
    base_url_path: str = ""  # appended to the endpoint URL ("/v1" for OpenAI-style APIs)


_CLAUDE = AgentSpec(
    name="claude",
    binary="claude",
    package="@anthropic-ai/claude-code",
    install="npm install -g @anthropic-ai/claude-code",
    state_dirs=(".claude",),
    state_files=((".claude.json", b"{}\n"),),
    key_vars=("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"),
    url_vars=("ANTHROPIC_BASE_URL",),
    oauth_files=(".claude/.credentials.json",),
    oauth_home_var="CLAUDE_CONFIG_DIR",
    resume=("--continue",),
    injected=(
        InjectedKey(
            "ANTHROPIC_API_KEY", "api.anthropic.com", "x-api-key", "{secret}", "ANTHROPIC_BASE_URL"
        ),
        InjectedKey(
            "ANTHROPIC_AUTH_TOKEN",
            "api.anthropic.com",
            "Authorization",
            "Bearer {secret}",
            "ANTHROPIC_BASE_URL",
        ),
    ),
)

_CODEX = AgentSpec(
    name="codex",
    binary="codex",
    package="@openai/codex",
    install="npm install -g @openai/codex",
    state_dirs=(".codex",),
    key_vars=("OPENAI_API_KEY", "CODEX_API_KEY"),
    url_vars=("OPENAI_BASE_URL",),
    url_config=(("OPENAI_BASE_URL", "openai_base_url"),),  # codex ignores the variable
    oauth_files=(".codex/auth.json",),
    oauth_home_var="CODEX_HOME",
    resume=("resume", "--last"),
    resume_after=("exec",),
    # codex ignores OPENAI_BASE_URL: the endpoint goes in as -c openai_base_url=...
    injected=(
        InjectedKey(
            "OPENAI_API_KEY",
            "api.openai.com",
            "Authorization",
            "Bearer {secret}",
            "OPENAI_BASE_URL",
            config_key="openai_base_url",
            base_url_path="/v1",
        ),
    ),
)

_OPENCODE = AgentSpec(
    name="opencode",
    binary="opencode",
    package="opencode-ai",
    install="npm install -g opencode-ai",
    state_dirs=(
        ".config/opencode",
        ".local/share/opencode",
        ".local/state/opencode",
        ".cache/opencode",
    ),
    key_vars=(
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_GENERATIVE_AI_API_KEY",
        "OPENCODE_API_KEY",
    ),
    url_vars=("ANTHROPIC_BASE_URL", "OPENAI_BASE_URL"),  # the AI SDK's: ending in /v1
    oauth_files=(".local/share/opencode/auth.json",),
    resume=("--continue",),
    resume_after=("run",),  # opencode run --continue MESSAGE
    extra_bin_dirs=(".opencode/bin",),
)

_PI = AgentSpec(
    name="pi",
    binary="pi",
    package="@mariozechner/pi-coding-agent",
    install="npm install -g @mariozechner/pi-coding-agent",
    state_dirs=(".pi",),
    key_vars=("ANTHROPIC_API_KEY", "ANTHROPIC_OAUTH_TOKEN", "OPENAI_API_KEY", "GEMINI_API_KEY"),
    url_vars=(),  # base URLs only in ~/.pi/agent/models.json
    oauth_files=(".pi/agent/auth.json",),
    resume=("--continue",),
)

_GEMINI = AgentSpec(
    name="gemini",
    binary="gemini",
    package="@google/gemini-cli",
    install="npm install -g @google/gemini-cli",
    state_dirs=(".gemini",),
    key_vars=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    url_vars=("GOOGLE_GEMINI_BASE_URL",),
    oauth_files=(".gemini/oauth_creds.json",),
    resume=("--resume", "latest"),
)

AGENT_SPECS: dict[str, AgentSpec] = {
    spec.name: spec for spec in (_CLAUDE, _CODEX, _OPENCODE, _PI, _GEMINI)
}

KNOWN_AGENTS: tuple[str, ...] = tuple(AGENT_SPECS)
