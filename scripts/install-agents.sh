#!/usr/bin/env bash
# Install the real agent CLIs (Claude Code, Codex) from npm into a cache dir, for the
# end-to-end tests and for users who do not have them yet. Prints the bin dir on stdout.
# Also installs the reference MCP filesystem server (npm @modelcontextprotocol/server-filesystem,
# bin mcp-server-filesystem) for the `agent-sandbox mcp` tests: name it `mcp-filesystem`.
#
#   scripts/install-agents.sh                 # both agents, default cache dir
#   scripts/install-agents.sh claude          # only Claude Code
#   scripts/install-agents.sh mcp-filesystem  # only the MCP filesystem server
#   scripts/install-agents.sh playwright-mcp  # the Playwright MCP server (tests/browser); uses
#                                             # the system Chromium, downloads no browser
#   scripts/install-agents.sh srt             # Anthropic's sandbox-runtime (bin srt), a peer
#                                             # that bench/startup.py measures; it needs
#                                             # socat and ripgrep on the host
#   BWSANDBOX_AGENTS_CACHE=/some/dir scripts/install-agents.sh
#
# Cache dir: $BWSANDBOX_AGENTS_CACHE, else /var/cache/bwsandbox/agents as root, else
# ${XDG_CACHE_HOME:-~/.cache}/bwsandbox/agents. A package already in the cache is reused
# (no network); set BWSANDBOX_AGENTS_UPDATE=1 to reinstall. Versions can be pinned with
# BWSANDBOX_CLAUDE_VERSION / BWSANDBOX_CODEX_VERSION / BWSANDBOX_MCP_FILESYSTEM_VERSION /
# BWSANDBOX_PLAYWRIGHT_MCP_VERSION / BWSANDBOX_SRT_VERSION
# (default: latest).
set -euo pipefail

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

if [[ -n ${BWSANDBOX_AGENTS_CACHE:-} ]]; then
    cache=$BWSANDBOX_AGENTS_CACHE
elif [[ $EUID -eq 0 ]]; then
    cache=/var/cache/bwsandbox/agents
else
    cache=${XDG_CACHE_HOME:-$HOME/.cache}/bwsandbox/agents
fi

command -v npm >/dev/null 2>&1 || die "npm is not installed (Debian: apt-get install nodejs npm)"

want=("$@")
[[ ${#want[@]} -eq 0 ]] && want=(claude codex)

package_of() {
    case $1 in
        claude) printf '@anthropic-ai/claude-code@%s\n' "${BWSANDBOX_CLAUDE_VERSION:-latest}" ;;
        codex) printf '@openai/codex@%s\n' "${BWSANDBOX_CODEX_VERSION:-latest}" ;;
        mcp-filesystem)
            printf '@modelcontextprotocol/server-filesystem@%s\n' \
                "${BWSANDBOX_MCP_FILESYSTEM_VERSION:-latest}"
            ;;
        playwright-mcp) printf '@playwright/mcp@%s\n' "${BWSANDBOX_PLAYWRIGHT_MCP_VERSION:-latest}" ;;
        srt) printf '@anthropic-ai/sandbox-runtime@%s\n' "${BWSANDBOX_SRT_VERSION:-latest}" ;;
        *) die "unknown package '$1' (known: claude, codex, mcp-filesystem, playwright-mcp, srt)" ;;
    esac
}

# the name of a package's executable in node_modules/.bin
bin_of() {
    case $1 in
        mcp-filesystem) printf 'mcp-server-filesystem\n' ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# playwright's install script would download its own browsers: the sandbox uses the system
# Chromium (Debian: apt-get install chromium) through --executable-path instead
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

mkdir -p "$cache"
chmod 0755 "$cache"
bin="$cache/node_modules/.bin"
packages=()
for agent in "${want[@]}"; do
    spec=$(package_of "$agent")
    if [[ -x $bin/$(bin_of "$agent") && -z ${BWSANDBOX_AGENTS_UPDATE:-} ]]; then
        say "$agent: already in $cache"
    else
        packages+=("$spec")
    fi
done

if [[ ${#packages[@]} -gt 0 ]]; then
    say "installing ${packages[*]} into $cache (npm)..."
    # --prefix keeps everything in the cache dir; no global install, no lifecycle scripts
    # of our own. Claude Code's and Codex's packages ship their native binaries inside.
    npm install --prefix "$cache" --no-audit --no-fund --no-update-notifier --loglevel=error \
        "${packages[@]}" >&2
fi

for agent in "${want[@]}"; do
    [[ -x $bin/$(bin_of "$agent") ]] || die "$agent was not installed into $bin"
done
printf '%s\n' "$bin"
