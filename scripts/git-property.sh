#!/usr/bin/env bash
# A longer run of the planted-git-layout property tests (issue 9 finding 2): many more
# hypothesis examples than the suite's bounded default, direct and through real sessions.
# Usage: bash scripts/git-property.sh [EXAMPLES]   (default 300)
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$BWSBX_REPO"
export BWSANDBOX_PROPERTY_EXAMPLES=${1:-300}
say "planted git layouts: $BWSANDBOX_PROPERTY_EXAMPLES examples"
"${BWSBX_VENV:-$BWSBX_REPO/.venv}/bin/python" -m pytest -p no:cacheprovider -q \
    tests/unit/test_git_property.py tests/sandbox/test_attack_git_property.py
