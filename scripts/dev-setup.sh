#!/usr/bin/env bash
# Set up a development environment in the checkout: system packages (installed with apt-get
# when run as root, otherwise the exact command is printed), then a venv (.venv, Debian's
# python3) with the package installed in editable mode with its [dev] extras.
# Idempotent: a second run only checks. Override the venv location with BWSBX_VENV.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

venv=${BWSBX_VENV:-$BWSBX_REPO/.venv}
ensure_system_packages run dev

python=$(host_python)
stamp_file=$venv/.bwsandbox-dev-stamp
stamp="$python $(sha256sum "$BWSBX_REPO/pyproject.toml" | cut -d' ' -f1)"
if [[ -f $stamp_file && $(<"$stamp_file") == "$stamp" ]] \
    && "$venv/bin/python" -c 'import bwsandbox, pytest' 2>/dev/null; then
    exit 0
fi

say "creating $venv with $python and installing bwsandbox[dev] (editable)"
"$python" -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --editable "$BWSBX_REPO[dev]"
printf '%s\n' "$stamp" >"$stamp_file"
