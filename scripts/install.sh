#!/usr/bin/env bash
# Install agent-sandbox for the current user:
#   - system packages (bubblewrap, python3-venv, nftables...): installed with apt-get when run
#     as root, otherwise the exact `sudo apt-get install ...` command is printed;
#   - a private venv under the user's data dir (${XDG_DATA_HOME:-~/.local/share}/agent-sandbox/venv)
#     with bwsandbox installed from this checkout;
#   - ~/.local/bin/agent-sandbox, a symlink to the venv's console script.
# Re-running it upgrades the installation from the checkout.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

[[ -n ${HOME:-} && -d $HOME ]] || die "HOME is not set to an existing directory"
data=${XDG_DATA_HOME:-$HOME/.local/share}/agent-sandbox
venv=$data/venv
bindir=$HOME/.local/bin

ensure_system_packages run
python=$(host_python)

if [[ ! -x $venv/bin/python ]] || ! "$venv/bin/python" -c 'import sys' 2>/dev/null; then
    say "creating $venv"
    mkdir -p "$data"
    "$python" -m venv --clear "$venv"
fi
say "installing bwsandbox from $BWSBX_REPO"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$BWSBX_REPO"

mkdir -p "$bindir"
ln -sfn "$venv/bin/agent-sandbox" "$bindir/agent-sandbox"
say "installed $bindir/agent-sandbox"
case ":${PATH:-}:" in
    *":$bindir:"*) ;;
    *)
        say "note: $bindir is not on your PATH; add it with"
        say "      echo 'export PATH=\"\$HOME/.local/bin:\$PATH\"' >> ~/.bashrc && export PATH=\"\$HOME/.local/bin:\$PATH\""
        ;;
esac
