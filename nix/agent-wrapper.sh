# shellcheck shell=bash
# Run an agent CLI inside agent-sandbox, or not, according to AGENT_SANDBOX.
#
# The Nix devshells put a small `bin/<agent>` script ahead of the real agent on PATH; it runs
#   bash agent-wrapper.sh PROFILE REAL_BINARY MODE AGENT_SANDBOX_BIN [AGENT ARGS...]
# MODE is the shell's default: "opt-in" (sandboxed only when AGENT_SANDBOX=true) or
# "opt-out" (sandboxed unless AGENT_SANDBOX=false). The per-invocation escape hatch is
# `AGENT_SANDBOX=false claude ...` (it says so on stderr). AGENT_SANDBOX_ARGS adds options
# before `--` (`--client acme --allow pypi.org`). Inside a sandbox already
# (AGENT_SANDBOX_ACTIVE set) the real binary runs directly: sandboxes do not nest.
#
# The sandbox's PATH: the devshell's PATH entries that resolve into /nix/store (the store is
# bound read-only, so exactly those tools are there), then the standard PATH of the shipped
# policies. Entries outside /nix/store (~/bin, /usr/local/..., /run/wrappers/bin) are NOT
# passed: the sandbox would not see them anyway, and no bind is ever added for them.
#
#   bash agent-wrapper.sh --sandbox-path   prints the PATH the sandbox would get
#   bash agent-wrapper.sh --dropped        prints the PATH entries left outside, one a line
#   bash agent-wrapper.sh --status MODE AGENT...   the devshell's one-time note on stderr
set -euo pipefail

# The shipped agent policies' PATH (policies/claude.toml [env.set] PATH, {user} expanded);
# tests/unit/test_nix_wrapper.py checks that the two agree.
# Only bash builtins are used: the devshell's PATH may hold anything, or nothing useful.
_user=${USER:-${LOGNAME:-}}
AGENT_SANDBOX_STANDARD_PATH="/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin:/run/current-system/sw/bin${_user:+:/etc/profiles/per-user/$_user/bin}:/run/agent-sandbox/bin"

_store_prefix=${AGENT_SANDBOX_NIX_STORE:-/nix/store}

# _resolve DIR: the directory with symlinks resolved, or nothing when it is not one.
_resolve() {
    [[ -d $1 ]] || return 0
    (cd -P -- "$1" 2>/dev/null && pwd -P) || true
}

# _split: sets the arrays `kept` (resolved store dirs, in PATH order, no duplicates) and
# `dropped` (the other entries, as written, except those on the standard PATH anyway).
_split() {
    kept=()
    dropped=()
    local entry resolved seen=":"
    local -a entries=()
    IFS=: read -r -a entries <<<"${PATH:-}" # no glob expansion of the entries
    for entry in "${entries[@]}"; do
        [[ -n $entry ]] || continue
        resolved=""
        [[ $entry == /* ]] && resolved=$(_resolve "$entry")
        if [[ ":$AGENT_SANDBOX_STANDARD_PATH:" == *":$entry:"* ]]; then
            continue # on the sandbox PATH anyway (bound by the base policy when present)
        elif [[ $resolved == "$_store_prefix"/* ]]; then
            if [[ $seen != *":$resolved:"* ]]; then
                kept+=("$resolved")
                seen+="$resolved:"
            fi
        else
            dropped+=("$entry")
        fi
    done
}

sandbox_path() {
    _split
    local joined=""
    local dir
    for dir in "${kept[@]}"; do
        joined+="$dir:"
    done
    printf '%s\n' "$joined$AGENT_SANDBOX_STANDARD_PATH"
}

# _wanted MODE: whether AGENT_SANDBOX (or, when unset, MODE) asks for the sandbox. The values
# and messages are those of `agent-sandbox shell-hook` (bwsandbox/cli/_hook.py); a value that
# is neither true nor false runs sandboxed, and says so (fail closed).
_wanted() {
    local mode=$1
    case ${AGENT_SANDBOX:-} in
    true | True | TRUE | 1 | yes | on) return 0 ;;
    false | False | FALSE | 0 | no | off) return 1 ;;
    "") [[ $mode == opt-out ]] ;;
    *) return 0 ;;
    esac
}

status() {
    local mode=$1
    shift
    local names=$* state
    names=${names// /, }
    if _wanted "$mode"; then
        state="run in agent-sandbox (AGENT_SANDBOX=${AGENT_SANDBOX:-unset}, $mode shell); AGENT_SANDBOX=false runs them bare"
    else
        state="run WITHOUT a sandbox (AGENT_SANDBOX=${AGENT_SANDBOX:-unset}, $mode shell); export AGENT_SANDBOX=true to sandbox them"
    fi
    printf 'agent-sandbox: %s %s\n' "$names" "$state" >&2
    _split
    if ((${#dropped[@]})); then
        printf 'agent-sandbox: not on the sandbox PATH (outside %s): %s\n' "$_store_prefix" "${dropped[*]}" >&2
    fi
}

main() {
    case ${1:-} in
    --status)
        shift
        status "$@"
        return 0
        ;;
    --sandbox-path)
        sandbox_path
        return 0
        ;;
    --dropped)
        _split
        ((${#dropped[@]} == 0)) || printf '%s\n' "${dropped[@]}"
        return 0
        ;;
    esac
    if (($# < 4)); then
        printf 'error: usage: agent-wrapper.sh PROFILE REAL_BINARY MODE AGENT_SANDBOX_BIN [ARGS...]\n' >&2
        exit 125
    fi
    local profile=$1 real=$2 mode=$3 tool=$4
    shift 4
    case $mode in
    opt-in | opt-out) ;;
    *)
        printf 'error: wrapper mode %s: expected opt-in or opt-out\n' "$mode" >&2
        exit 125
        ;;
    esac
    if [[ -n ${AGENT_SANDBOX_ACTIVE:-} ]]; then
        exec "$real" "$@" # already in a sandbox: sandboxes do not nest
    fi
    if ! _wanted "$mode"; then
        if [[ -n ${AGENT_SANDBOX:-} ]]; then
            printf 'agent-sandbox: AGENT_SANDBOX=%s: running %s WITHOUT the sandbox\n' \
                "$AGENT_SANDBOX" "${real##*/}" >&2
        fi
        exec "$real" "$@"
    fi
    case ${AGENT_SANDBOX:-true} in
    true | True | TRUE | 1 | yes | on) ;;
    *)
        printf 'agent-sandbox: AGENT_SANDBOX=%s is neither true nor false: running %s in the sandbox\n' \
            "$AGENT_SANDBOX" "${real##*/}" >&2
        ;;
    esac
    # extra agent-sandbox options, split at spaces without quoting (as the shell hook does)
    local -a opts=()
    read -r -a opts <<<"${AGENT_SANDBOX_ARGS:-}"
    local override=${profile^^}
    export "BWSANDBOX_AGENT_BIN_${override//-/_}=$real"
    exec "$tool" "$profile" --env "PATH=$(sandbox_path)" "${opts[@]}" -- "$@"
}

main "$@"
