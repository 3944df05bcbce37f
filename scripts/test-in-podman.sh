#!/usr/bin/env bash
# agent-sandbox inside rootless Podman, as an ordinary user (see docs/containers.md):
#   1. a default container: `doctor` fails and names the flags it needs; `run` exits 125;
#   2. the least privilege that works (unmask=/proc/* plus a seccomp profile that allows
#      sethostname): `doctor` passes and the core attack tests and the filtered-network tests
#      pass inside the container.
# Usage: bash scripts/test-in-podman.sh IMAGE_TAR [pytest args...]   (IMAGE_TAR from
# scripts/container-image.sh). Needs podman, runc, uidmap and this checkout's .venv (the
# container runs this checkout's venv python, mounted read-only at the same path).
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"

((EUID != 0)) || die "run it as an ordinary user (rootless podman)"
image_tar=${1:?usage: test-in-podman.sh IMAGE_TAR [pytest args...]}
shift
image=localhost/bwsandbox-test:debian12
repo=$BWSBX_REPO
python=$repo/.venv/bin/python
[[ -x $python ]] || die "no $python: run bash scripts/dev-setup.sh first"
cd "$HOME"
if ! podman image exists "$image"; then
    podman import --quiet "$image_tar" "$image" >/dev/null
fi
# runc: crun refuses hybrid cgroup hosts; host network: no /dev/net/tun for slirp4netns
# here, and every sandbox makes its own network namespace anyway.
base=(podman run --rm --runtime runc --network host -v "$repo:$repo:ro" -w "$repo"
    -e CI=true -e PYTHONDONTWRITEBYTECODE=1)
status=0
say "== a default rootless container: doctor must fail and name what is needed"
out=$("${base[@]}" "$image" "$python" -m bwsandbox.cli doctor 2>&1) || status=$?
printf '%s\n' "$out"
((status == 1)) || die "doctor should fail in a default container (exit $status)"
grep -q 'unmask=/proc/\*' <<<"$out" || die "doctor did not name --security-opt unmask=/proc/*"
grep -q 'sethostname' <<<"$out" || die "doctor did not name sethostname"
grep -q 'filtered network: not tested' <<<"$out" || die "doctor claimed the filtered network"
status=0
out=$("${base[@]}" "$image" bash -c "mkdir -p /tmp/p && cd /tmp/p && $python -m bwsandbox.cli run -- true" 2>&1) ||
    status=$?
printf '%s\n' "$out"
((status == 125)) || die "run should exit 125 in a default container (exit $status)"
[[ $(grep -c '^error:' <<<"$out") == 1 ]] || die "run should print one error: line"
status=0
out=$("${base[@]}" "$image" bash -c "mkdir -p /tmp/p && cd /tmp/p && $python -m bwsandbox.cli run --network filtered --allow example.com -- true" 2>&1) ||
    status=$?
printf '%s\n' "$out"
((status == 125)) || die "filtered run should exit 125 in a default container (exit $status)"
grep -q "^error: bwrap could not set up the sandbox: Can't set hostname" <<<"$out" ||
    die "a filtered run should report bwrap's own error"

profile=$(mktemp)
trap 'rm -f "$profile"' EXIT
python3 "$repo/scripts/container-seccomp.py" >"$profile"
least=(--security-opt 'unmask=/proc/*' --security-opt "seccomp=$profile")
say "== least privilege: ${least[*]}"
"${base[@]}" "${least[@]}" "$image" "$python" -m bwsandbox.cli doctor
say "== core attack and filtered-network tests inside the container"
"${base[@]}" "${least[@]}" "$image" "$python" -m pytest -p no:cacheprovider -q \
    tests/sandbox tests/net/test_filtered.py -k "attack or test_filtered" "$@"
