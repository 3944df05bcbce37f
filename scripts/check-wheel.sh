#!/usr/bin/env bash
# Check the package as users get it: build the wheel, install it into a FRESH venv made with
# Debian's python3 (not the dev venv), and run it from outside the checkout:
#   the shipped policies are inside (bwsandbox/_policies) and found; --version matches
#   pyproject.toml; shell completion is there; `agent-sandbox doctor` passes; a real sandbox
#   runs a command.
# Needs PyPI (the build backend and the dependencies). Leaves nothing behind; set
# BWSBX_KEEP_WHEEL=DIR to keep the built wheel there.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

python=$(host_python)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pip_quiet=(--quiet --disable-pip-version-check)

say "building the wheel with $python"
"$python" -m venv "$work/build-venv"
"$work/build-venv/bin/python" -m pip wheel "${pip_quiet[@]}" --no-deps \
    --wheel-dir "$work/dist" "$BWSBX_REPO"
wheel=$(find "$work/dist" -name 'bwsandbox-*.whl' -print -quit)
[[ -n $wheel ]] || die "no wheel was built"
say "built $(basename "$wheel")"
if [[ -n ${BWSBX_KEEP_WHEEL:-} ]]; then
    mkdir -p "$BWSBX_KEEP_WHEEL"
    cp "$wheel" "$BWSBX_KEEP_WHEEL/"
fi

# every shipped policy is in the wheel, under bwsandbox/_policies
"$work/build-venv/bin/python" - "$wheel" "$BWSBX_REPO/policies" <<'PY'
import sys
import zipfile
from pathlib import Path

names = set(zipfile.ZipFile(sys.argv[1]).namelist())
shipped = sorted(p.name for p in Path(sys.argv[2]).glob("*.toml"))
missing = [n for n in shipped if f"bwsandbox/_policies/{n}" not in names]
if missing or "bwsandbox/py.typed" not in names:
    sys.exit(f"error: the wheel lacks {missing or 'py.typed'}")
print(f"wheel: {len(shipped)} policies and py.typed inside", file=sys.stderr)
PY

say "installing it into a fresh venv"
"$python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install "${pip_quiet[@]}" "$wheel"
bin=$work/venv/bin/agent-sandbox

# run from a directory outside the checkout, with private agent-sandbox state
mkdir -p "$work/project" "$work/config" "$work/data" "$work/tmp"
export AGENT_SANDBOX_CONFIG_DIR=$work/config AGENT_SANDBOX_DATA_DIR=$work/data TMPDIR=$work/tmp
cd "$work/project"

expected=$("$python" -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
    "$BWSBX_REPO/pyproject.toml")
version=$("$bin" --version)
[[ $version == "agent-sandbox $expected" ]] || die "--version printed '$version', expected $expected"
say "version: $version"

"$work/venv/bin/python" -c '
import sys
from pathlib import Path
import bwsandbox
policies = Path(bwsandbox.__file__).parent / "_policies"
if not (policies / "base.toml").is_file():
    sys.exit(f"error: {policies}/base.toml is missing")
if "site-packages" not in str(policies):
    sys.exit(f"error: bwsandbox was imported from {policies.parent}, not the venv")
# the installed policies are the stored ones (policy/_shipped.py): loaded without tomllib
from bwsandbox.policy import load_policy
load_policy(["base"])
if "tomllib" in sys.modules:
    sys.exit("error: the installed base policy was parsed by tomllib, not read from _shipped")
'
"$bin" policy list | grep -q '^base' || die "'policy list' does not show the shipped base policy"
"$bin" --show-completion bash 2>/dev/null | grep -q 'complete .*agent-sandbox' ||
    die "--show-completion bash printed no completion code"
say "policies and completion: ok"

say "agent-sandbox doctor:"
"$bin" doctor || die "agent-sandbox doctor failed (exit $?) with the installed wheel"

out=$("$bin" run -- sh -c 'echo "sandboxed in $PWD"')
[[ $out == "sandboxed in $work/project" ]] || die "run printed '$out'"
say "run: $out"
say "check-wheel: ok"
