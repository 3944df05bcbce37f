{
  description = "bwsandbox: run AI coding agents in unprivileged bubblewrap sandboxes (agent-sandbox)";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems =
        f:
        builtins.listToAttrs (
          map (system: {
            name = system;
            value = f system;
          }) systems
        );
      bwlib = import ./nix/lib.nix { src = self; };
      # claude-code is unfree in nixpkgs: allowed here for the claude-code shell only
      unfree = [ "claude-code" ];
      pkgsFor =
        system:
        import nixpkgs {
          inherit system;
          overlays = [ self.overlays.default ];
          config.allowUnfreePredicate = pkg: builtins.elem (pkg.pname or "") unfree;
        };
      agentShell =
        pkgs: agents:
        bwlib.wrapAgentShell {
          inherit pkgs agents;
          agentSandbox = pkgs.bwsandbox;
        };
    in
    {
      overlays.default = import ./nix/overlay.nix { src = self; };

      packages = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = pkgs.bwsandbox;
          bwsandbox = pkgs.bwsandbox;
        }
      );

      apps = forAllSystems (system: {
        default = {
          type = "app";
          program = "${self.packages.${system}.default}/bin/agent-sandbox";
          meta.description = "agent-sandbox: run a command or an agent in a bubblewrap sandbox";
        };
      });

      devShells = forAllSystems (
        system:
        let
          pkgs = pkgsFor system;
        in
        {
          default = import ./nix/devshell.nix { inherit pkgs; };
          claude-code = agentShell pkgs [ "claude" ];
          codex = agentShell pkgs [ "codex" ];
          opencode = agentShell pkgs [ "opencode" ];
        }
      );

      lib = bwlib;
    };
}
