#!/usr/bin/env bash
# Set up (see scripts/dev-setup.sh) and run the test suite. Works as root and as an ordinary
# user; arguments go to pytest (e.g. `bash scripts/test.sh tests/sandbox -k attack`).
# Fails when pytest fails or collects no test.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

venv=${BWSBX_VENV:-$BWSBX_REPO/.venv}
bash "$BWSBX_REPO/scripts/dev-setup.sh"

cd "$BWSBX_REPO"
say "running the test suite as $(id -un) (uid $(id -u)) with $venv/bin/python"
status=0
"$venv/bin/python" -m pytest -p no:cacheprovider "$@" || status=$?
if ((status == 5)); then
    die "pytest collected no tests"
fi
exit "$status"
