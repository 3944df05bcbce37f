#!/usr/bin/env bash
# Check the docs: the generated reference pages (docs/reference) match the code, and the
# site builds with mkdocs in strict mode (every warning, e.g. a broken link, is an error).
# Uses the dev venv (.venv, or $BWSBX_VENV), which has mkdocs-material from the [dev] extra.
# The site goes to a temporary directory: nothing is left in the checkout.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
cd "$BWSBX_REPO"

venv=${BWSBX_VENV:-$BWSBX_REPO/.venv}
python=$venv/bin/python
[[ -x $python ]] || die "no venv at $venv (run: bash scripts/dev-setup.sh)"
"$python" -c 'import mkdocs, material' 2>/dev/null ||
    die "mkdocs-material is not installed in $venv (run: $python -m pip install mkdocs-material)"

"$python" scripts/gen_reference.py --check
say "reference: up to date (docs/reference/*.md)"

site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 "$python" -m mkdocs build --strict --quiet --site-dir "$site"
say "mkdocs build --strict: ok ($(find "$site" -name index.html | wc -l) pages)"
