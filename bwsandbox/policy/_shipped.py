"""The shipped policies' exact text and parsed value: generated from policies/*.toml by
scripts/gen_shipped_policies.py, do not edit.

``policy/_load.py`` uses a stored value only for a file whose text is identical to a stored
text, so this module cannot make a policy stale (an edited, user or newer file is parsed by
``tomllib`` and checked); it only spares ``agent-sandbox run`` importing ``tomllib`` and
re-checking the shipped layers (``CHECKED``: ``read_layer``'s result for that text, which
depends on the text alone; ``source`` is the file's path, named in later errors).
tests/unit/test_shipped_policies.py checks it is current, that its values are tomllib's and
that its layers are ``read_layer``'s.
"""

# ruff: noqa: E501

from __future__ import annotations

from bwsandbox.policy._model import Bind, NetworkMode
from bwsandbox.policy._validate import Entry, Layer

__all__ = ["CHECKED", "SHIPPED"]

_BASE_TEXT = (
    "# base: the hardened defaults every other policy builds on.\n"
    "#\n"
    "# System directories read-only, the project read-write, a private home and /tmp in the\n"
    "# session's work dir, a curated /etc, a clean environment and no network. Every relaxation\n"
    "# must be written in a policy that extends this one.\n"
    'description = "Hardened defaults: system read-only, project read-write, private home and /tmp, curated /etc, clean env, no network"\n'
    "\n"
    "[filesystem]\n"
    "# /usr and the root layout (/bin, /lib... or their merged-/usr symlinks) are always bound.\n"
    "ro = [\n"
    '  "/nix/store",                 # NixOS and nix on other distributions\n'
    '  "/run/current-system/sw",     # NixOS system profile\n'
    '  "/etc/profiles/per-user/{user}",\n'
    "]\n"
    'rw = ["{project}"]\n'
    'home = "private"\n'
    "\n"
    "# Files under /etc bound read-only when present; passwd, group, hostname and hosts are\n"
    "# generated for the sandbox, shadow/sudoers/ssh never enter.\n"
    "etc = [\n"
    '  "/etc/static",                # NixOS: most of /etc links through it into the store\n'
    '  "/etc/alternatives",\n'
    '  "/etc/ssl",\n'
    '  "/etc/ca-certificates",\n'
    '  "/etc/ca-certificates.conf",\n'
    '  "/etc/pki",\n'
    '  "/etc/crypto-policies",\n'
    '  "/etc/ld.so.cache",\n'
    '  "/etc/ld.so.conf",\n'
    '  "/etc/ld.so.conf.d",\n'
    '  "/etc/localtime",\n'
    '  "/etc/timezone",\n'
    '  "/etc/nsswitch.conf",\n'
    '  "/etc/host.conf",\n'
    '  "/etc/gai.conf",\n'
    '  "/etc/protocols",\n'
    '  "/etc/services",\n'
    '  "/etc/mime.types",\n'
    '  "/etc/os-release",\n'
    '  "/etc/lsb-release",\n'
    '  "/etc/debian_version",\n'
    '  "/etc/locale.alias",\n'
    '  "/etc/locale.conf",\n'
    '  "/etc/terminfo",\n'
    '  "/etc/inputrc",\n'
    '  "/etc/profile",\n'
    '  "/etc/profile.d",\n'
    '  "/etc/bash.bashrc",\n'
    '  "/etc/shells",\n'
    '  "/etc/vim",\n'
    '  "/etc/nanorc",\n'
    '  "/etc/magic",\n'
    '  "/etc/fonts",\n'
    "]\n"
    "\n"
    "# Files the host later executes or interprets without review: read-only inside the project\n"
    "# even though the project is writable. (git hooks and config, direnv, editor and IDE\n"
    '# settings and tasks, package-manager configs that run code, hook managers.) A trailing "/"\n'
    "# marks a directory. An absent entry gets an empty read-only placeholder (file or directory)\n"
    "# for the session so it cannot be created, and the placeholder is removed afterwards. The\n"
    "# directories between the project and an entry (.git) are mount points, so they cannot be\n"
    "# renamed away and replaced either.\n"
    "protect = [\n"
    '  "{project}/.git/hooks/",\n'
    '  "{project}/.git/config",\n'
    '  "{project}/.git/config.worktree",\n'
    '  "{project}/.git/worktrees/",     # a linked worktree\'s commondir could point host git elsewhere\n'
    '  "{project}/.envrc",\n'
    '  "{project}/.vscode/",\n'
    '  "{project}/.idea/",\n'
    '  "{project}/.devcontainer/",\n'
    '  "{project}/.zed/",\n'
    '  "{project}/.helix/",\n'
    '  "{project}/.dir-locals.el",\n'
    '  "{project}/.exrc",\n'
    '  "{project}/.nvimrc",\n'
    '  "{project}/.nvim.lua",\n'
    '  "{project}/.cargo/",\n'
    '  "{project}/.npmrc",\n'
    '  "{project}/.yarnrc",\n'
    '  "{project}/.yarnrc.yml",\n'
    '  "{project}/.pnpmfile.cjs",\n'
    '  "{project}/.husky/",\n'
    '  "{project}/.githooks/",\n'
    '  "{project}/.pre-commit-config.yaml",\n'
    "]\n"
    "\n"
    "# Paths that must not appear during the session, where an empty placeholder would break\n"
    "# tools: moved aside afterwards if the session creates them. A new .git/commondir turns the\n"
    "# project's .git into a linked worktree of any repository the sandbox planted (with its own\n"
    "# hooks and core.fsmonitor), which host git would then run.\n"
    'watch = ["{project}/.git/commondir"]\n'
    "\n"
    "[env]\n"
    "# EDITOR, VISUAL, GIT_EDITOR: agents and git open editors, which run from the host's /usr\n"
    "passthrough = [\n"
    '  "TERM", "COLORTERM", "NO_COLOR", "LANG", "LANGUAGE", "LC_*", "TZ",\n'
    '  "EDITOR", "VISUAL", "GIT_EDITOR",\n'
    "]\n"
    "unset = []\n"
    "\n"
    "[env.set]\n"
    'PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin"\n'
    'HOME = "{home}"\n'
    'USER = "{user}"\n'
    'LOGNAME = "{user}"\n'
    'SHELL = "/bin/sh"\n'
    'TMPDIR = "/tmp"\n'
    'XDG_RUNTIME_DIR = "/run/user/{uid}"\n'
    'AGENT_SANDBOX_ACTIVE = "1"\n'
    "\n"
    "# git inside: the host's user.name and user.email (so `git commit` works) and the host's\n"
    "# global ignore patterns, both as data in generated read-only files; nothing else from the\n"
    "# host's git config (no aliases, credential helpers, includes or program-running keys).\n"
    "# The sandbox's placeholders for absent protected paths are always ignored by git inside.\n"
    "[git]\n"
    "identity = true\n"
    "excludes = true\n"
    "\n"
    "[command]\n"
    "argv = []\n"
    'cwd = "{project}"\n'
    "\n"
    "[network]\n"
    'mode = "none"\n'
    "\n"
    "[hardening]\n"
    "nested_userns = false\n"
    "new_session = true\n"
    "die_with_parent = true\n"
    'hostname = "sandbox"\n'
    "# escape sequences the sandbox writes to your terminal go through a filter: no clipboard\n"
    "# writes (OSC 52), no report requests that make the terminal type, no file:// links\n"
    "terminal_filter = true\n"
)


def _base() -> dict[str, object]:
    return {
        "description": "Hardened defaults: system read-only, project read-write, private home and /tmp, curated /etc, clean env, no network",
        "filesystem": {
            "ro": [
                "/nix/store",
                "/run/current-system/sw",
                "/etc/profiles/per-user/{user}",
            ],
            "rw": [
                "{project}",
            ],
            "home": "private",
            "etc": [
                "/etc/static",
                "/etc/alternatives",
                "/etc/ssl",
                "/etc/ca-certificates",
                "/etc/ca-certificates.conf",
                "/etc/pki",
                "/etc/crypto-policies",
                "/etc/ld.so.cache",
                "/etc/ld.so.conf",
                "/etc/ld.so.conf.d",
                "/etc/localtime",
                "/etc/timezone",
                "/etc/nsswitch.conf",
                "/etc/host.conf",
                "/etc/gai.conf",
                "/etc/protocols",
                "/etc/services",
                "/etc/mime.types",
                "/etc/os-release",
                "/etc/lsb-release",
                "/etc/debian_version",
                "/etc/locale.alias",
                "/etc/locale.conf",
                "/etc/terminfo",
                "/etc/inputrc",
                "/etc/profile",
                "/etc/profile.d",
                "/etc/bash.bashrc",
                "/etc/shells",
                "/etc/vim",
                "/etc/nanorc",
                "/etc/magic",
                "/etc/fonts",
            ],
            "protect": [
                "{project}/.git/hooks/",
                "{project}/.git/config",
                "{project}/.git/config.worktree",
                "{project}/.git/worktrees/",
                "{project}/.envrc",
                "{project}/.vscode/",
                "{project}/.idea/",
                "{project}/.devcontainer/",
                "{project}/.zed/",
                "{project}/.helix/",
                "{project}/.dir-locals.el",
                "{project}/.exrc",
                "{project}/.nvimrc",
                "{project}/.nvim.lua",
                "{project}/.cargo/",
                "{project}/.npmrc",
                "{project}/.yarnrc",
                "{project}/.yarnrc.yml",
                "{project}/.pnpmfile.cjs",
                "{project}/.husky/",
                "{project}/.githooks/",
                "{project}/.pre-commit-config.yaml",
            ],
            "watch": [
                "{project}/.git/commondir",
            ],
        },
        "env": {
            "passthrough": [
                "TERM",
                "COLORTERM",
                "NO_COLOR",
                "LANG",
                "LANGUAGE",
                "LC_*",
                "TZ",
                "EDITOR",
                "VISUAL",
                "GIT_EDITOR",
            ],
            "unset": [],
            "set": {
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin",
                "HOME": "{home}",
                "USER": "{user}",
                "LOGNAME": "{user}",
                "SHELL": "/bin/sh",
                "TMPDIR": "/tmp",
                "XDG_RUNTIME_DIR": "/run/user/{uid}",
                "AGENT_SANDBOX_ACTIVE": "1",
            },
        },
        "git": {
            "identity": True,
            "excludes": True,
        },
        "command": {
            "argv": [],
            "cwd": "{project}",
        },
        "network": {
            "mode": "none",
        },
        "hardening": {
            "nested_userns": False,
            "new_session": True,
            "die_with_parent": True,
            "hostname": "sandbox",
            "terminal_filter": True,
        },
    }


# fmt: off
def _base_layer(source: str) -> Layer:
    return Layer(
        source,
        (
        ),
        {
            "description": Entry("Hardened defaults: system read-only, project read-write, private home and /tmp, curated /etc, clean env, no network", "description"),
            "filesystem.home": Entry("private", "filesystem.home"),
            "git.identity": Entry(True, "git.identity"),
            "git.excludes": Entry(True, "git.excludes"),
            "command.argv": Entry((), "command.argv"),
            "command.cwd": Entry("{project}", "command.cwd"),
            "network.mode": Entry(NetworkMode.NONE, "network.mode"),
            "hardening.nested_userns": Entry(False, "hardening.nested_userns"),
            "hardening.new_session": Entry(True, "hardening.new_session"),
            "hardening.die_with_parent": Entry(True, "hardening.die_with_parent"),
            "hardening.hostname": Entry("sandbox", "hardening.hostname"),
            "hardening.terminal_filter": Entry(True, "hardening.terminal_filter"),
        },
        {
            "filesystem.ro": (
                Entry(Bind("/nix/store", "", True), "filesystem.ro[0]"),
                Entry(Bind("/run/current-system/sw", "", True), "filesystem.ro[1]"),
                Entry(Bind("/etc/profiles/per-user/{user}", "", True), "filesystem.ro[2]"),
            ),
            "filesystem.rw": (
                Entry(Bind("{project}", "", True), "filesystem.rw[0]"),
            ),
            "filesystem.etc": (
                Entry("/etc/static", "filesystem.etc[0]"),
                Entry("/etc/alternatives", "filesystem.etc[1]"),
                Entry("/etc/ssl", "filesystem.etc[2]"),
                Entry("/etc/ca-certificates", "filesystem.etc[3]"),
                Entry("/etc/ca-certificates.conf", "filesystem.etc[4]"),
                Entry("/etc/pki", "filesystem.etc[5]"),
                Entry("/etc/crypto-policies", "filesystem.etc[6]"),
                Entry("/etc/ld.so.cache", "filesystem.etc[7]"),
                Entry("/etc/ld.so.conf", "filesystem.etc[8]"),
                Entry("/etc/ld.so.conf.d", "filesystem.etc[9]"),
                Entry("/etc/localtime", "filesystem.etc[10]"),
                Entry("/etc/timezone", "filesystem.etc[11]"),
                Entry("/etc/nsswitch.conf", "filesystem.etc[12]"),
                Entry("/etc/host.conf", "filesystem.etc[13]"),
                Entry("/etc/gai.conf", "filesystem.etc[14]"),
                Entry("/etc/protocols", "filesystem.etc[15]"),
                Entry("/etc/services", "filesystem.etc[16]"),
                Entry("/etc/mime.types", "filesystem.etc[17]"),
                Entry("/etc/os-release", "filesystem.etc[18]"),
                Entry("/etc/lsb-release", "filesystem.etc[19]"),
                Entry("/etc/debian_version", "filesystem.etc[20]"),
                Entry("/etc/locale.alias", "filesystem.etc[21]"),
                Entry("/etc/locale.conf", "filesystem.etc[22]"),
                Entry("/etc/terminfo", "filesystem.etc[23]"),
                Entry("/etc/inputrc", "filesystem.etc[24]"),
                Entry("/etc/profile", "filesystem.etc[25]"),
                Entry("/etc/profile.d", "filesystem.etc[26]"),
                Entry("/etc/bash.bashrc", "filesystem.etc[27]"),
                Entry("/etc/shells", "filesystem.etc[28]"),
                Entry("/etc/vim", "filesystem.etc[29]"),
                Entry("/etc/nanorc", "filesystem.etc[30]"),
                Entry("/etc/magic", "filesystem.etc[31]"),
                Entry("/etc/fonts", "filesystem.etc[32]"),
            ),
            "filesystem.protect": (
                Entry("{project}/.git/hooks/", "filesystem.protect[0]"),
                Entry("{project}/.git/config", "filesystem.protect[1]"),
                Entry("{project}/.git/config.worktree", "filesystem.protect[2]"),
                Entry("{project}/.git/worktrees/", "filesystem.protect[3]"),
                Entry("{project}/.envrc", "filesystem.protect[4]"),
                Entry("{project}/.vscode/", "filesystem.protect[5]"),
                Entry("{project}/.idea/", "filesystem.protect[6]"),
                Entry("{project}/.devcontainer/", "filesystem.protect[7]"),
                Entry("{project}/.zed/", "filesystem.protect[8]"),
                Entry("{project}/.helix/", "filesystem.protect[9]"),
                Entry("{project}/.dir-locals.el", "filesystem.protect[10]"),
                Entry("{project}/.exrc", "filesystem.protect[11]"),
                Entry("{project}/.nvimrc", "filesystem.protect[12]"),
                Entry("{project}/.nvim.lua", "filesystem.protect[13]"),
                Entry("{project}/.cargo/", "filesystem.protect[14]"),
                Entry("{project}/.npmrc", "filesystem.protect[15]"),
                Entry("{project}/.yarnrc", "filesystem.protect[16]"),
                Entry("{project}/.yarnrc.yml", "filesystem.protect[17]"),
                Entry("{project}/.pnpmfile.cjs", "filesystem.protect[18]"),
                Entry("{project}/.husky/", "filesystem.protect[19]"),
                Entry("{project}/.githooks/", "filesystem.protect[20]"),
                Entry("{project}/.pre-commit-config.yaml", "filesystem.protect[21]"),
            ),
            "filesystem.watch": (
                Entry("{project}/.git/commondir", "filesystem.watch[0]"),
            ),
            "env.passthrough": (
                Entry("TERM", "env.passthrough[0]"),
                Entry("COLORTERM", "env.passthrough[1]"),
                Entry("NO_COLOR", "env.passthrough[2]"),
                Entry("LANG", "env.passthrough[3]"),
                Entry("LANGUAGE", "env.passthrough[4]"),
                Entry("LC_*", "env.passthrough[5]"),
                Entry("TZ", "env.passthrough[6]"),
                Entry("EDITOR", "env.passthrough[7]"),
                Entry("VISUAL", "env.passthrough[8]"),
                Entry("GIT_EDITOR", "env.passthrough[9]"),
            ),
            "env.unset": (
            ),
        },
        {
            "env.set": {
                "PATH": Entry("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin", "env.set.PATH"),
                "HOME": Entry("{home}", "env.set.HOME"),
                "USER": Entry("{user}", "env.set.USER"),
                "LOGNAME": Entry("{user}", "env.set.LOGNAME"),
                "SHELL": Entry("/bin/sh", "env.set.SHELL"),
                "TMPDIR": Entry("/tmp", "env.set.TMPDIR"),
                "XDG_RUNTIME_DIR": Entry("/run/user/{uid}", "env.set.XDG_RUNTIME_DIR"),
                "AGENT_SANDBOX_ACTIVE": Entry("1", "env.set.AGENT_SANDBOX_ACTIVE"),
            },
        },
    )
# fmt: on


_BROWSER_TEXT = (
    "# browser: Debian's Chromium (or the Playwright MCP server driving it) with filtered egress.\n"
    "#\n"
    "#   agent-sandbox run --policy browser --allow example.com -- \\\n"
    "#       chromium --headless --dump-dom https://example.com/\n"
    "#\n"
    "# No host is allowed by default: name each site with --allow. Chromium's own background\n"
    "# traffic (component updates, safe browsing, sign-in) is refused by the filter like any other\n"
    "# unlisted host; pass --disable-background-networking --disable-component-update\n"
    "# --no-first-run --disable-sync to keep it from trying (see docs/browser.md).\n"
    "#\n"
    "# Chromium keeps its own sandbox: its renderers run in user, PID and network namespaces of\n"
    "# their own, chrooted to an empty directory, under its own seccomp filter, inside ours. That\n"
    "# needs nested user namespaces, relaxed here and only here; the mount syscalls stay denied.\n"
    '# Why this and not --no-sandbox inside ours: docs/threat-model.md ("A browser in the sandbox").\n'
    'extends = ["base"]\n'
    'description = "Chromium and Playwright MCP: filtered network (allow each site), Chromium\'s own sandbox nested in ours"\n'
    "\n"
    "[filesystem]\n"
    "# Chromium's shared memory: a private, writable /dev/shm for the sandbox user\n"
    'tmpfs = ["/dev/shm"]\n'
    "# Debian's launcher (/usr/bin/chromium) reads its flags from these; fonts come from /usr\n"
    'etc = ["/etc/chromium", "/etc/chromium.d", "/etc/fonts"]\n'
    "\n"
    "[network]\n"
    'mode = "filtered"\n'
    "\n"
    "[hardening]\n"
    "# Chromium's namespace sandbox (user + PID + network namespaces per renderer)\n"
    "nested_userns = true\n"
    "\n"
    "[seccomp]\n"
    "# nested_userns relaxes 'namespaces' and 'mount'; Chromium needs only the first\n"
    'deny = ["mount"]\n'
)


def _browser() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "Chromium and Playwright MCP: filtered network (allow each site), Chromium's own sandbox nested in ours",
        "filesystem": {
            "tmpfs": [
                "/dev/shm",
            ],
            "etc": [
                "/etc/chromium",
                "/etc/chromium.d",
                "/etc/fonts",
            ],
        },
        "network": {
            "mode": "filtered",
        },
        "hardening": {
            "nested_userns": True,
        },
        "seccomp": {
            "deny": [
                "mount",
            ],
        },
    }


# fmt: off
def _browser_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("Chromium and Playwright MCP: filtered network (allow each site), Chromium's own sandbox nested in ours", "description"),
            "network.mode": Entry(NetworkMode.FILTERED, "network.mode"),
            "hardening.nested_userns": Entry(True, "hardening.nested_userns"),
        },
        {
            "filesystem.tmpfs": (
                Entry("/dev/shm", "filesystem.tmpfs[0]"),
            ),
            "filesystem.etc": (
                Entry("/etc/chromium", "filesystem.etc[0]"),
                Entry("/etc/chromium.d", "filesystem.etc[1]"),
                Entry("/etc/fonts", "filesystem.etc[2]"),
            ),
            "seccomp.deny": (
                Entry("mount", "seccomp.deny[0]"),
            ),
        },
        {
        },
    )
# fmt: on


_CLAUDE_TEXT = (
    "# claude: Claude Code (npm @anthropic-ai/claude-code) on the project, filtered network.\n"
    "#\n"
    "# Started by 'agent-sandbox claude', which also binds the claude binary read-only, the\n"
    "# client's compartment at ~/.claude and ~/.claude.json, and the login (ANTHROPIC_API_KEY from\n"
    "# your environment, or your ~/.claude/.credentials.json read-only). See docs/agents.md.\n"
    'extends = ["base"]\n'
    'description = "Claude Code in the project; network: the Anthropic API and its login hosts only"\n'
    "\n"
    "[env.set]\n"
    "# the launcher's bin dir (links to the agent and, if needed, node) after the base PATH\n"
    'PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin"\n'
    'SHELL = "/bin/bash"\n'
    "# no auto-update (the binary is read-only anyway), no telemetry, error reporting or\n"
    "# feature-flag traffic: only the API calls remain\n"
    'DISABLE_AUTOUPDATER = "1"\n'
    'CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC = "1"\n'
    'DISABLE_TELEMETRY = "1"\n'
    'DISABLE_ERROR_REPORTING = "1"\n'
    "\n"
    "[command]\n"
    'argv = ["claude"]\n'
    "\n"
    "[network]\n"
    'mode = "filtered"\n'
    "allow = [\n"
    '  "api.anthropic.com",      # the Messages API: every prompt\n'
    '  "console.anthropic.com",  # OAuth token refresh and API-key login (older releases)\n'
    '  "platform.claude.com",    # OAuth token refresh (newer releases)\n'
    '  "claude.ai",              # /login with a Claude subscription (browser code flow)\n'
    "]\n"
    "# denied on purpose, without an --allow suggestion in the exit summary (one line counts them):\n"
    "# update checks (the binary is read-only in the sandbox) and telemetry\n"
    "quiet = [\n"
    '  "downloads.claude.ai",    # native-installer update check\n'
    '  "github.com",             # plugin marketplace / release checks\n'
    '  "statsig.anthropic.com",  # feature flags and metrics\n'
    '  "*.sentry.io",            # error reporting\n'
    "]\n"
)


def _claude() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "Claude Code in the project; network: the Anthropic API and its login hosts only",
        "env": {
            "set": {
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin",
                "SHELL": "/bin/bash",
                "DISABLE_AUTOUPDATER": "1",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
                "DISABLE_TELEMETRY": "1",
                "DISABLE_ERROR_REPORTING": "1",
            },
        },
        "command": {
            "argv": [
                "claude",
            ],
        },
        "network": {
            "mode": "filtered",
            "allow": [
                "api.anthropic.com",
                "console.anthropic.com",
                "platform.claude.com",
                "claude.ai",
            ],
            "quiet": [
                "downloads.claude.ai",
                "github.com",
                "statsig.anthropic.com",
                "*.sentry.io",
            ],
        },
    }


# fmt: off
def _claude_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("Claude Code in the project; network: the Anthropic API and its login hosts only", "description"),
            "command.argv": Entry(("claude",), "command.argv"),
            "network.mode": Entry(NetworkMode.FILTERED, "network.mode"),
        },
        {
            "network.allow": (
                Entry("api.anthropic.com", "network.allow[0]"),
                Entry("console.anthropic.com", "network.allow[1]"),
                Entry("platform.claude.com", "network.allow[2]"),
                Entry("claude.ai", "network.allow[3]"),
            ),
            "network.quiet": (
                Entry("downloads.claude.ai", "network.quiet[0]"),
                Entry("github.com", "network.quiet[1]"),
                Entry("statsig.anthropic.com", "network.quiet[2]"),
                Entry("*.sentry.io", "network.quiet[3]"),
            ),
        },
        {
            "env.set": {
                "PATH": Entry("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin", "env.set.PATH"),
                "SHELL": Entry("/bin/bash", "env.set.SHELL"),
                "DISABLE_AUTOUPDATER": Entry("1", "env.set.DISABLE_AUTOUPDATER"),
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": Entry("1", "env.set.CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"),
                "DISABLE_TELEMETRY": Entry("1", "env.set.DISABLE_TELEMETRY"),
                "DISABLE_ERROR_REPORTING": Entry("1", "env.set.DISABLE_ERROR_REPORTING"),
            },
        },
    )
# fmt: on


_CODEX_TEXT = (
    "# codex: OpenAI Codex CLI (npm @openai/codex) on the project, filtered network.\n"
    "#\n"
    "# Started by 'agent-sandbox codex', which also binds the codex binary read-only, the\n"
    "# client's compartment at ~/.codex, and the login (OPENAI_API_KEY from your environment, or\n"
    "# your ~/.codex/auth.json read-only). See docs/agents.md.\n"
    'extends = ["base"]\n'
    'description = "OpenAI Codex CLI in the project; network: the OpenAI API and ChatGPT login hosts only"\n'
    "\n"
    "[env.set]\n"
    'PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin"\n'
    'SHELL = "/bin/bash"\n'
    "\n"
    "[command]\n"
    'argv = ["codex"]\n'
    "\n"
    "[network]\n"
    'mode = "filtered"\n'
    "allow = [\n"
    '  "api.openai.com",   # the Responses API with an API key\n'
    '  "chatgpt.com",      # the Codex backend when logged in with ChatGPT\n'
    '  "auth.openai.com",  # ChatGPT login and token refresh\n'
    "]\n"
    "# denied on purpose, without an --allow suggestion in the exit summary (one line counts them):\n"
    "# update checks (the binary is read-only in the sandbox) and telemetry\n"
    "quiet = [\n"
    '  "github.com",                 # release update check\n'
    '  "api.github.com",             # release update check\n'
    '  "raw.githubusercontent.com",  # version / announcement files\n'
    '  "ab.chatgpt.com",             # experiments and telemetry\n'
    "]\n"
)


def _codex() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "OpenAI Codex CLI in the project; network: the OpenAI API and ChatGPT login hosts only",
        "env": {
            "set": {
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin",
                "SHELL": "/bin/bash",
            },
        },
        "command": {
            "argv": [
                "codex",
            ],
        },
        "network": {
            "mode": "filtered",
            "allow": [
                "api.openai.com",
                "chatgpt.com",
                "auth.openai.com",
            ],
            "quiet": [
                "github.com",
                "api.github.com",
                "raw.githubusercontent.com",
                "ab.chatgpt.com",
            ],
        },
    }


# fmt: off
def _codex_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("OpenAI Codex CLI in the project; network: the OpenAI API and ChatGPT login hosts only", "description"),
            "command.argv": Entry(("codex",), "command.argv"),
            "network.mode": Entry(NetworkMode.FILTERED, "network.mode"),
        },
        {
            "network.allow": (
                Entry("api.openai.com", "network.allow[0]"),
                Entry("chatgpt.com", "network.allow[1]"),
                Entry("auth.openai.com", "network.allow[2]"),
            ),
            "network.quiet": (
                Entry("github.com", "network.quiet[0]"),
                Entry("api.github.com", "network.quiet[1]"),
                Entry("raw.githubusercontent.com", "network.quiet[2]"),
                Entry("ab.chatgpt.com", "network.quiet[3]"),
            ),
        },
        {
            "env.set": {
                "PATH": Entry("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin", "env.set.PATH"),
                "SHELL": Entry("/bin/bash", "env.set.SHELL"),
            },
        },
    )
# fmt: on


_GEMINI_TEXT = (
    "# gemini: Gemini CLI (npm @google/gemini-cli) on the project, filtered network.\n"
    "#\n"
    "# Started by 'agent-sandbox gemini', which also binds the binary read-only, the client's\n"
    "# compartment at ~/.gemini, and the login (GEMINI_API_KEY from your environment, or your\n"
    "# ~/.gemini/oauth_creds.json read-only). See docs/agents.md.\n"
    'extends = ["base"]\n'
    'description = "Gemini CLI in the project; network: the Gemini API and Google login hosts only"\n'
    "\n"
    "[env.set]\n"
    'PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin"\n'
    'SHELL = "/bin/bash"\n'
    "\n"
    "[command]\n"
    'argv = ["gemini"]\n'
    "\n"
    "[network]\n"
    'mode = "filtered"\n'
    "allow = [\n"
    '  "generativelanguage.googleapis.com",  # the Gemini API with an API key\n'
    '  "cloudcode-pa.googleapis.com",        # Gemini Code Assist: the API with a Google login\n'
    '  "oauth2.googleapis.com",              # Google OAuth token refresh\n'
    "]\n"
    "# not allowed: play.googleapis.com (usage statistics; turn them off with\n"
    '# {"privacy": {"usageStatisticsEnabled": false}} in ~/.gemini/settings.json to avoid\n'
    "# denied-connection noise)\n"
)


def _gemini() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "Gemini CLI in the project; network: the Gemini API and Google login hosts only",
        "env": {
            "set": {
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin",
                "SHELL": "/bin/bash",
            },
        },
        "command": {
            "argv": [
                "gemini",
            ],
        },
        "network": {
            "mode": "filtered",
            "allow": [
                "generativelanguage.googleapis.com",
                "cloudcode-pa.googleapis.com",
                "oauth2.googleapis.com",
            ],
        },
    }


# fmt: off
def _gemini_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("Gemini CLI in the project; network: the Gemini API and Google login hosts only", "description"),
            "command.argv": Entry(("gemini",), "command.argv"),
            "network.mode": Entry(NetworkMode.FILTERED, "network.mode"),
        },
        {
            "network.allow": (
                Entry("generativelanguage.googleapis.com", "network.allow[0]"),
                Entry("cloudcode-pa.googleapis.com", "network.allow[1]"),
                Entry("oauth2.googleapis.com", "network.allow[2]"),
            ),
        },
        {
            "env.set": {
                "PATH": Entry("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin", "env.set.PATH"),
                "SHELL": Entry("/bin/bash", "env.set.SHELL"),
            },
        },
    )
# fmt: on


_MCP_TEXT = (
    "# mcp: a stdio MCP server (`agent-sandbox mcp -- CMD`) in a sandbox of its own.\n"
    "#\n"
    "# An MCP server reads whatever the agent (and so whoever steered the agent) asks it to, and\n"
    "# many of them fetch untrusted input themselves. So each one gets the least: the project\n"
    "# read-only (most servers only read; `--rw DIR` for the project or one directory makes it\n"
    "# writable), a private home and /tmp, the curated /etc of base, and no network (`--allow\n"
    "# HOST` switches to the filtered network with just that host). No terminal: stdin and stdout\n"
    "# carry the JSON-RPC stream. See docs/mcp.md.\n"
    'extends = ["base"]\n'
    'description = "A stdio MCP server: project read-only, private home, no network"\n'
    "\n"
    "[filesystem]\n"
    'remove = ["{project}"]\n'
    'ro = ["{project}"]\n'
    "\n"
    "[network]\n"
    'mode = "none"\n'
)


def _mcp() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "A stdio MCP server: project read-only, private home, no network",
        "filesystem": {
            "remove": [
                "{project}",
            ],
            "ro": [
                "{project}",
            ],
        },
        "network": {
            "mode": "none",
        },
    }


# fmt: off
def _mcp_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("A stdio MCP server: project read-only, private home, no network", "description"),
            "network.mode": Entry(NetworkMode.NONE, "network.mode"),
        },
        {
            "filesystem.remove": (
                Entry("{project}", "filesystem.remove[0]"),
            ),
            "filesystem.ro": (
                Entry(Bind("{project}", "", True), "filesystem.ro[0]"),
            ),
        },
        {
        },
    )
# fmt: on


_OPENCODE_TEXT = (
    "# opencode: OpenCode (npm opencode-ai) on the project, filtered network.\n"
    "#\n"
    "# Started by 'agent-sandbox opencode', which also binds the binary read-only and the client's\n"
    "# compartment at OpenCode's XDG dirs (~/.config/opencode, ~/.local/share/opencode,\n"
    "# ~/.local/state/opencode, ~/.cache/opencode). OpenCode talks to many providers: the hosts\n"
    "# below cover Anthropic, OpenAI, Gemini and OpenCode's own; add others with --allow or a\n"
    "# policy that extends this one. See docs/agents.md.\n"
    'extends = ["base"]\n'
    'description = "OpenCode in the project; network: models.dev and the main model providers\' APIs"\n'
    "\n"
    "[env.set]\n"
    'PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin"\n'
    'SHELL = "/bin/bash"\n'
    'OPENCODE_DISABLE_AUTOUPDATE = "1"\n'
    "\n"
    "[command]\n"
    'argv = ["opencode"]\n'
    "\n"
    "[network]\n"
    'mode = "filtered"\n'
    "allow = [\n"
    '  "models.dev",                         # the model catalogue OpenCode loads at start\n'
    '  "opencode.ai",                        # OpenCode Zen models and its login\n'
    '  "api.anthropic.com",                  # Anthropic provider\n'
    '  "console.anthropic.com",              # Anthropic OAuth token refresh\n'
    '  "api.openai.com",                     # OpenAI provider\n'
    '  "generativelanguage.googleapis.com",  # Gemini provider\n'
    "]\n"
)


def _opencode() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "OpenCode in the project; network: models.dev and the main model providers' APIs",
        "env": {
            "set": {
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin",
                "SHELL": "/bin/bash",
                "OPENCODE_DISABLE_AUTOUPDATE": "1",
            },
        },
        "command": {
            "argv": [
                "opencode",
            ],
        },
        "network": {
            "mode": "filtered",
            "allow": [
                "models.dev",
                "opencode.ai",
                "api.anthropic.com",
                "console.anthropic.com",
                "api.openai.com",
                "generativelanguage.googleapis.com",
            ],
        },
    }


# fmt: off
def _opencode_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("OpenCode in the project; network: models.dev and the main model providers' APIs", "description"),
            "command.argv": Entry(("opencode",), "command.argv"),
            "network.mode": Entry(NetworkMode.FILTERED, "network.mode"),
        },
        {
            "network.allow": (
                Entry("models.dev", "network.allow[0]"),
                Entry("opencode.ai", "network.allow[1]"),
                Entry("api.anthropic.com", "network.allow[2]"),
                Entry("console.anthropic.com", "network.allow[3]"),
                Entry("api.openai.com", "network.allow[4]"),
                Entry("generativelanguage.googleapis.com", "network.allow[5]"),
            ),
        },
        {
            "env.set": {
                "PATH": Entry("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin", "env.set.PATH"),
                "SHELL": Entry("/bin/bash", "env.set.SHELL"),
                "OPENCODE_DISABLE_AUTOUPDATE": Entry("1", "env.set.OPENCODE_DISABLE_AUTOUPDATE"),
            },
        },
    )
# fmt: on


_PI_TEXT = (
    "# pi: the pi coding agent (npm @mariozechner/pi-coding-agent) on the project, filtered network.\n"
    "#\n"
    "# Started by 'agent-sandbox pi', which also binds the binary read-only, the client's\n"
    "# compartment at ~/.pi, and the login (a provider API key from your environment, or your\n"
    "# ~/.pi/agent/auth.json read-only). See docs/agents.md.\n"
    'extends = ["base"]\n'
    'description = "pi coding agent in the project; network: the main model providers\' APIs"\n'
    "\n"
    "[env.set]\n"
    'PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin"\n'
    'SHELL = "/bin/bash"\n'
    "# no startup network calls: update checks, package update checks, install telemetry\n"
    'PI_OFFLINE = "1"\n'
    "\n"
    "[command]\n"
    'argv = ["pi"]\n'
    "\n"
    "[network]\n"
    'mode = "filtered"\n'
    "allow = [\n"
    '  "api.anthropic.com",                  # Anthropic provider\n'
    '  "console.anthropic.com",              # Anthropic OAuth token refresh\n'
    '  "api.openai.com",                     # OpenAI provider\n'
    '  "generativelanguage.googleapis.com",  # Gemini provider\n'
    "]\n"
)


def _pi() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "pi coding agent in the project; network: the main model providers' APIs",
        "env": {
            "set": {
                "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin",
                "SHELL": "/bin/bash",
                "PI_OFFLINE": "1",
            },
        },
        "command": {
            "argv": [
                "pi",
            ],
        },
        "network": {
            "mode": "filtered",
            "allow": [
                "api.anthropic.com",
                "console.anthropic.com",
                "api.openai.com",
                "generativelanguage.googleapis.com",
            ],
        },
    }


# fmt: off
def _pi_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("pi coding agent in the project; network: the main model providers' APIs", "description"),
            "command.argv": Entry(("pi",), "command.argv"),
            "network.mode": Entry(NetworkMode.FILTERED, "network.mode"),
        },
        {
            "network.allow": (
                Entry("api.anthropic.com", "network.allow[0]"),
                Entry("console.anthropic.com", "network.allow[1]"),
                Entry("api.openai.com", "network.allow[2]"),
                Entry("generativelanguage.googleapis.com", "network.allow[3]"),
            ),
        },
        {
            "env.set": {
                "PATH": Entry("/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin:/run/agent-sandbox/bin", "env.set.PATH"),
                "SHELL": Entry("/bin/bash", "env.set.SHELL"),
                "PI_OFFLINE": Entry("1", "env.set.PI_OFFLINE"),
            },
        },
    )
# fmt: on


_SHELL_TEXT = (
    "# shell: an interactive bash on the project, with the base policy's defences.\n"
    'extends = ["base"]\n'
    'description = "Interactive bash in the project (base defences, no network)"\n'
    "\n"
    "[env.set]\n"
    'SHELL = "/bin/bash"\n'
    'debian_chroot = "sandbox"\n'
    "\n"
    "[command]\n"
    'argv = ["/bin/bash", "-i"]\n'
)


def _shell() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "Interactive bash in the project (base defences, no network)",
        "env": {
            "set": {
                "SHELL": "/bin/bash",
                "debian_chroot": "sandbox",
            },
        },
        "command": {
            "argv": [
                "/bin/bash",
                "-i",
            ],
        },
    }


# fmt: off
def _shell_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("Interactive bash in the project (base defences, no network)", "description"),
            "command.argv": Entry(("/bin/bash", "-i"), "command.argv"),
        },
        {
        },
        {
            "env.set": {
                "SHELL": Entry("/bin/bash", "env.set.SHELL"),
                "debian_chroot": Entry("sandbox", "env.set.debian_chroot"),
            },
        },
    )
# fmt: on


_SSH_EXAMPLE_TEXT = (
    "# ssh-example: short-lived SSH access to one host (here a home-automation box), just in time.\n"
    "#\n"
    "# Not used by default. Copy it to your policies dir, adjust, then:\n"
    "#   agent-sandbox run --policy ssh-example -- ssh target ha core info\n"
    "#\n"
    "# Each session gets a fresh ed25519 key pair made in memory, its public key signed by YOUR\n"
    '# local CA for 15 minutes, for the principal "agent-ha" only, with a forced command on the\n'
    "# server side. Your own ~/.ssh keys and your ssh-agent never enter the sandbox.\n"
    "# The target's sshd trusts the CA with TrustedUserCAKeys: see docs/ssh.md.\n"
    'extends = ["base"]\n'
    'description = "SSH to homeassistant.lan with a 15-minute certificate from your local CA"\n'
    "\n"
    "[network]\n"
    'mode = "filtered"\n'
    'allow = ["homeassistant.lan:22"]\n'
    "\n"
    "[ssh]\n"
    'ca_key = "{host_home}/.ssh/agent_ca"  # ssh-keygen -t ed25519 -f ~/.ssh/agent_ca\n'
    'principals = ["agent-ha"]\n'
    'validity = "15m"\n'
    "# the server runs this whatever the client asks ($SSH_ORIGINAL_COMMAND holds the request)\n"
    'force_command = "/usr/local/bin/ha-agent-gate"\n'
    'target = "homeassistant.lan:22"  # `ssh target` inside the sandbox\n'
    '# source_address = ["192.168.1.10/32"]  # where the server sees the connection come from\n'
    '# known_hosts = ["homeassistant.lan ssh-ed25519 AAAAC3..."]  # pin the host key (else accept-new)\n'
)


def _ssh_example() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "SSH to homeassistant.lan with a 15-minute certificate from your local CA",
        "network": {
            "mode": "filtered",
            "allow": [
                "homeassistant.lan:22",
            ],
        },
        "ssh": {
            "ca_key": "{host_home}/.ssh/agent_ca",
            "principals": [
                "agent-ha",
            ],
            "validity": "15m",
            "force_command": "/usr/local/bin/ha-agent-gate",
            "target": "homeassistant.lan:22",
        },
    }


# fmt: off
def _ssh_example_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("SSH to homeassistant.lan with a 15-minute certificate from your local CA", "description"),
            "network.mode": Entry(NetworkMode.FILTERED, "network.mode"),
            "ssh.ca_key": Entry("{host_home}/.ssh/agent_ca", "ssh.ca_key"),
            "ssh.validity": Entry("15m", "ssh.validity"),
            "ssh.force_command": Entry("/usr/local/bin/ha-agent-gate", "ssh.force_command"),
            "ssh.target": Entry("homeassistant.lan:22", "ssh.target"),
        },
        {
            "network.allow": (
                Entry("homeassistant.lan:22", "network.allow[0]"),
            ),
            "ssh.principals": (
                Entry("agent-ha", "ssh.principals[0]"),
            ),
        },
        {
        },
    )
# fmt: on


_USER_TOOLS_TEXT = (
    "# user-tools: the invoking user's own tool installs, read-only, on PATH.\n"
    "#\n"
    "# For tools installed with pipx / pip --user (~/.local), npm with a user prefix\n"
    "# (~/.npm-global or ~/.local), nvm, rustup/cargo, go, deno and bun. Only the directories that\n"
    "# hold programs are bound, at their host paths (symlinks such as ~/.local/bin/x ->\n"
    "# ~/.local/share/pipx/venvs/x/bin/x keep working); credentials next to them\n"
    "# (~/.cargo/credentials.toml, ~/.npmrc, ~/.config) stay out.\n"
    "#\n"
    "#   agent-sandbox run --policy user-tools -- mytool\n"
    'extends = ["base"]\n'
    'description = "base, plus the user\'s ~/.local, npm, nvm, cargo, go, deno and bun programs (read-only, on PATH)"\n'
    "\n"
    "[filesystem]\n"
    "ro = [\n"
    '  "{host_home}/.local/bin",\n'
    '  "{host_home}/.local/lib",\n'
    '  "{host_home}/.local/share/pipx",\n'
    '  "{host_home}/.npm-global/bin",\n'
    '  "{host_home}/.npm-global/lib",\n'
    '  "{host_home}/.nvm/versions",\n'
    '  "{host_home}/.cargo/bin",\n'
    '  "{host_home}/.rustup/toolchains",\n'
    '  "{host_home}/.rustup/settings.toml",\n'
    '  "{host_home}/go/bin",\n'
    '  "{host_home}/.deno/bin",\n'
    '  "{host_home}/.bun/bin",\n'
    "]\n"
    "\n"
    "[env.set]\n"
    'PATH = "{host_home}/.local/bin:{host_home}/.npm-global/bin:{host_home}/.cargo/bin:{host_home}/go/bin:{host_home}/.deno/bin:{host_home}/.bun/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin"\n'
    'RUSTUP_HOME = "{host_home}/.rustup"\n'
)


def _user_tools() -> dict[str, object]:
    return {
        "extends": [
            "base",
        ],
        "description": "base, plus the user's ~/.local, npm, nvm, cargo, go, deno and bun programs (read-only, on PATH)",
        "filesystem": {
            "ro": [
                "{host_home}/.local/bin",
                "{host_home}/.local/lib",
                "{host_home}/.local/share/pipx",
                "{host_home}/.npm-global/bin",
                "{host_home}/.npm-global/lib",
                "{host_home}/.nvm/versions",
                "{host_home}/.cargo/bin",
                "{host_home}/.rustup/toolchains",
                "{host_home}/.rustup/settings.toml",
                "{host_home}/go/bin",
                "{host_home}/.deno/bin",
                "{host_home}/.bun/bin",
            ],
        },
        "env": {
            "set": {
                "PATH": "{host_home}/.local/bin:{host_home}/.npm-global/bin:{host_home}/.cargo/bin:{host_home}/go/bin:{host_home}/.deno/bin:{host_home}/.bun/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin",
                "RUSTUP_HOME": "{host_home}/.rustup",
            },
        },
    }


# fmt: off
def _user_tools_layer(source: str) -> Layer:
    return Layer(
        source,
        (
            Entry("base", "extends[0]"),
        ),
        {
            "description": Entry("base, plus the user's ~/.local, npm, nvm, cargo, go, deno and bun programs (read-only, on PATH)", "description"),
        },
        {
            "filesystem.ro": (
                Entry(Bind("{host_home}/.local/bin", "", True), "filesystem.ro[0]"),
                Entry(Bind("{host_home}/.local/lib", "", True), "filesystem.ro[1]"),
                Entry(Bind("{host_home}/.local/share/pipx", "", True), "filesystem.ro[2]"),
                Entry(Bind("{host_home}/.npm-global/bin", "", True), "filesystem.ro[3]"),
                Entry(Bind("{host_home}/.npm-global/lib", "", True), "filesystem.ro[4]"),
                Entry(Bind("{host_home}/.nvm/versions", "", True), "filesystem.ro[5]"),
                Entry(Bind("{host_home}/.cargo/bin", "", True), "filesystem.ro[6]"),
                Entry(Bind("{host_home}/.rustup/toolchains", "", True), "filesystem.ro[7]"),
                Entry(Bind("{host_home}/.rustup/settings.toml", "", True), "filesystem.ro[8]"),
                Entry(Bind("{host_home}/go/bin", "", True), "filesystem.ro[9]"),
                Entry(Bind("{host_home}/.deno/bin", "", True), "filesystem.ro[10]"),
                Entry(Bind("{host_home}/.bun/bin", "", True), "filesystem.ro[11]"),
            ),
        },
        {
            "env.set": {
                "PATH": Entry("{host_home}/.local/bin:{host_home}/.npm-global/bin:{host_home}/.cargo/bin:{host_home}/go/bin:{host_home}/.deno/bin:{host_home}/.bun/bin:/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin:/etc/profiles/per-user/{user}/bin", "env.set.PATH"),
                "RUSTUP_HOME": Entry("{host_home}/.rustup", "env.set.RUSTUP_HOME"),
            },
        },
    )
# fmt: on


#: the text of a shipped policy file -> its parsed value (fresh objects each call)
SHIPPED = {
    _BASE_TEXT: _base,
    _BROWSER_TEXT: _browser,
    _CLAUDE_TEXT: _claude,
    _CODEX_TEXT: _codex,
    _GEMINI_TEXT: _gemini,
    _MCP_TEXT: _mcp,
    _OPENCODE_TEXT: _opencode,
    _PI_TEXT: _pi,
    _SHELL_TEXT: _shell,
    _SSH_EXAMPLE_TEXT: _ssh_example,
    _USER_TOOLS_TEXT: _user_tools,
}

#: the text of a shipped policy file -> its checked layer, given the file's path
CHECKED = {
    _BASE_TEXT: _base_layer,
    _BROWSER_TEXT: _browser_layer,
    _CLAUDE_TEXT: _claude_layer,
    _CODEX_TEXT: _codex_layer,
    _GEMINI_TEXT: _gemini_layer,
    _MCP_TEXT: _mcp_layer,
    _OPENCODE_TEXT: _opencode_layer,
    _PI_TEXT: _pi_layer,
    _SHELL_TEXT: _shell_layer,
    _SSH_EXAMPLE_TEXT: _ssh_example_layer,
    _USER_TOOLS_TEXT: _user_tools_layer,
}
