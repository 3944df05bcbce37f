#!/usr/bin/env bash
# Check the Nix files offline (nixpkgs cannot be fetched on these machines):
#   1. flake.nix and every nix/ file parse (nix-instantiate --parse);
#   2. the flake evaluates against a stub nixpkgs (nix/tests/eval.nix: packages, apps,
#      devShells, lib, overlay, with assertions on what they ask nixpkgs for);
#   3. the agent wrapper script lib.wrapAgentShell generates really runs: AGENT_SANDBOX=true
#      calls agent-sandbox with the profile and PATH, false runs the agent and says so.
# Nothing is built or fetched. Needs nix-instantiate (Debian: apt-get install nix-bin).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

if ! command -v nix-instantiate >/dev/null 2>&1; then
    printf 'error: nix-instantiate not found (install it: sudo apt-get install nix-bin)\n' >&2
    exit 1
fi
# dummy store: never writes /nix/store, never talks to a daemon (works as any user)
nix_instantiate() { nix-instantiate --store dummy:// "$@"; }
nix_eval() { nix_instantiate --readonly-mode --eval --strict "$@"; }

files=(flake.nix)
mapfile -t -O 1 files < <(find nix -name '*.nix' | sort)
for file in "${files[@]}"; do
    nix_instantiate --parse "$file" >/dev/null
done
printf 'parse: ok (%d files)\n' "${#files[@]}"

checks=$(nix_eval --json nix/tests/eval.nix)
printf 'eval: ok (%s checks)\n' "$(python3 -c 'import json, sys; print(len(json.load(sys.stdin)))' <<<"$checks")"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
printf '#!/bin/sh\nprintf "%%s\\n" agent "$@"\n' >"$work/bin/agent"
printf '#!/bin/sh\nprintf "%%s\\n" agent-sandbox "$@"\n' >"$work/bin/agent-sandbox"
chmod +x "$work/bin/agent" "$work/bin/agent-sandbox"
# The wrapper text as lib.wrapAgentShell writes it; the store copy of agent-wrapper.sh does
# not exist in read-only mode, so point it at the checkout's.
nix_eval --json -E "(import ./nix/lib.nix { }).wrapperText {
    bash = \"/bin/bash\"; profile = \"claude\"; real = \"$work/bin/agent\";
    mode = \"opt-in\"; agentSandbox = \"$work/bin/agent-sandbox\"; }" |
    python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' |
    sed -E "s|'/nix/store/[a-z0-9]{32}-agent-wrapper.sh'|'$repo/nix/agent-wrapper.sh'|" \
        >"$work/claude"
chmod +x "$work/claude"
grep -q "'$repo/nix/agent-wrapper.sh'" "$work/claude" || {
    printf 'error: unexpected wrapper text:\n' >&2
    cat "$work/claude" >&2
    exit 1
}
sandboxed=$(AGENT_SANDBOX=true "$work/claude" --print hi | tr '\n' ' ')
case $sandboxed in
"agent-sandbox claude --env PATH="*" -- --print hi ") ;;
*)
    printf 'error: AGENT_SANDBOX=true ran: %s\n' "$sandboxed" >&2
    exit 1
    ;;
esac
bare=$(AGENT_SANDBOX=false "$work/claude" --print hi 2>"$work/err" | tr '\n' ' ')
[[ $bare == "agent --print hi " ]] && grep -q 'WITHOUT the sandbox' "$work/err" || {
    printf 'error: AGENT_SANDBOX=false ran: %s (stderr: %s)\n' "$bare" "$(cat "$work/err")" >&2
    exit 1
}
printf 'wrapper: ok (AGENT_SANDBOX=true -> agent-sandbox claude; false -> the agent, with a note)\n'
