# Functions other flakes can call to wrap their own agent devshells with agent-sandbox.
#
#   bwsandbox.lib.wrapAgentShell {
#     pkgs = nixpkgs.legacyPackages.${system};   # with claude-code allowed if you want it
#     agents = [ "claude" ];                     # or { claude = pkgs.claude-code; }
#     mode = "opt-in";                           # or "opt-out"
#     packages = [ pkgs.nodejs ];                # your own tools; anything mkShell takes goes through
#   }
#
# Only builtins are used (no nixpkgs lib), so everything but the derivations themselves
# evaluates offline: scripts/check-nix.sh evaluates this file against a stub pkgs.
{
  # the bwsandbox source tree (the flake's self); null: this checkout
  src ? null,
}:
let
  # agent name (the agent-sandbox command and profile) -> its binary and nixpkgs attribute
  agents = {
    claude = {
      binary = "claude";
      attr = "claude-code";
    };
    codex = {
      binary = "codex";
      attr = "codex";
    };
    opencode = {
      binary = "opencode";
      attr = "opencode";
    };
    gemini = {
      binary = "gemini";
      attr = "gemini-cli";
    };
  };

  modes = [
    "opt-in"
    "opt-out"
  ];

  checkMode =
    mode:
    if builtins.elem mode modes then
      mode
    else
      throw "bwsandbox.lib: mode must be \"opt-in\" or \"opt-out\", not ${builtins.toJSON mode}";

  agentSpec =
    name:
    agents.${name} or (throw (
      "bwsandbox.lib: unknown agent ${builtins.toJSON name}; known: "
      + builtins.concatStringsSep ", " (builtins.attrNames agents)
    ));

  # [ "claude" ] or { claude = pkg; } -> [ { name; binary; package; } ]
  resolveAgents =
    pkgs: selection:
    let
      named = if builtins.isList selection then map (n: { name = n; }) selection else
        map (n: { name = n; package = selection.${n}; }) (builtins.attrNames selection);
    in
    map (
      a:
      let
        spec = agentSpec a.name;
      in
      {
        inherit (a) name;
        inherit (spec) binary;
        package = a.package or pkgs.${spec.attr};
      }
    ) named;

  # The script put ahead of the real agent on PATH. All store paths, no spaces: quoting with
  # single quotes is enough.
  wrapperText =
    {
      bash,
      profile,
      real,
      mode,
      agentSandbox,
    }:
    ''
      #!${bash}
      # agent-sandbox wrapper for ${profile} (bwsandbox lib.wrapAgentShell, ${checkMode mode})
      exec '${bash}' '${./agent-wrapper.sh}' '${profile}' '${real}' '${mode}' '${agentSandbox}' "$@"
    '';

  defaultPackage = pkgs: pkgs.callPackage ./package.nix { inherit src; };

  mkAgentWrapper =
    {
      pkgs,
      name,
      package ? pkgs.${(agentSpec name).attr},
      mode ? "opt-in",
      agentSandbox ? defaultPackage pkgs,
    }:
    let
      binary = (agentSpec name).binary;
    in
    pkgs.writeTextFile {
      name = "${binary}-in-agent-sandbox";
      destination = "/bin/${binary}";
      executable = true;
      text = wrapperText {
        bash = "${pkgs.bash}/bin/bash";
        profile = name;
        real = "${package}/bin/${binary}";
        inherit mode;
        agentSandbox = "${agentSandbox}/bin/agent-sandbox";
      };
    };

  wrapAgentShell =
    {
      pkgs,
      agents ? [ "claude" ],
      mode ? "opt-in",
      agentSandbox ? defaultPackage pkgs,
      packages ? [ ],
      shellHook ? "",
      ...
    }@args:
    let
      resolved = resolveAgents pkgs agents;
      wrappers = map (
        a:
        mkAgentWrapper {
          inherit pkgs mode agentSandbox;
          inherit (a) name package;
        }
      ) resolved;
      names = builtins.concatStringsSep " " (map (a: a.name) resolved);
      wrapperPath = builtins.concatStringsSep ":" (map (w: "${w}/bin") wrappers);
      rest = builtins.removeAttrs args [
        "pkgs"
        "agents"
        "mode"
        "agentSandbox"
        "packages"
        "shellHook"
      ];
    in
    pkgs.mkShell (
      rest
      // {
        packages = wrappers ++ map (a: a.package) resolved ++ [ agentSandbox ] ++ packages;
        shellHook = ''
          # the wrappers go first, whatever order mkShell gave the packages
          export PATH='${wrapperPath}':"$PATH"
          if [ -z "''${AGENT_SANDBOX_QUIET:-}" ]; then
            '${pkgs.bash}/bin/bash' '${./agent-wrapper.sh}' --status '${checkMode mode}' ${names}
          fi
        ''
        + shellHook;
      }
    );
in
{
  inherit
    agents
    modes
    checkMode
    resolveAgents
    wrapperText
    mkAgentWrapper
    wrapAgentShell
    ;
}
