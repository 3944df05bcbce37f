# Shared helpers for scripts/install.sh, scripts/test.sh and .ci/run. Source, do not run.
# shellcheck shell=bash

BWSBX_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# system_packages SECTION...: the package names listed under the given sections.
system_packages() {
    local want=" $* " section="" line
    while IFS= read -r line; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [[ -z $line ]] && continue
        if [[ $line == \[*\] ]]; then
            section=${line:1:-1}
            continue
        fi
        [[ $want == *" $section "* ]] && printf '%s\n' "$line"
    done <"$BWSBX_REPO/scripts/system-packages.txt"
}

# missing_packages PKG...: those not installed according to dpkg.
missing_packages() {
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null | grep -q '^ii'; then
            printf '%s\n' "$pkg"
        fi
    done
}

# ensure_system_packages SECTION...: install what is missing when root (apt-get), otherwise
# print the exact command to run and fail.
ensure_system_packages() {
    local -a wanted missing
    mapfile -t wanted < <(system_packages "$@")
    if ! command -v dpkg-query >/dev/null 2>&1; then
        say "note: not a Debian/Ubuntu system; make sure these (or your distribution's"
        say "      equivalents) are installed: ${wanted[*]}"
        command -v bwrap >/dev/null 2>&1 || die "bwrap (bubblewrap) is not installed"
        return 0
    fi
    mapfile -t missing < <(missing_packages "${wanted[@]}")
    ((${#missing[@]} == 0)) && return 0
    if ((EUID == 0)); then
        say "installing system packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        say "error: missing system packages: ${missing[*]}"
        say "run:   sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
}

# host_python: Debian's python (never a pyenv shim or a root-only interpreter).
host_python() {
    if [[ -n ${BWSBX_PYTHON:-} ]]; then
        printf '%s\n' "$BWSBX_PYTHON"
    elif [[ -x /usr/bin/python3 ]]; then
        printf '%s\n' /usr/bin/python3
    else
        command -v python3 || die "python3 is not installed"
    fi
}
