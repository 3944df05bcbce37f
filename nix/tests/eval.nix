# Offline checks of flake.nix and nix/*.nix against the stub nixpkgs:
#   nix-instantiate --readonly-mode --eval --strict --json nix/tests/eval.nix
# prints the list of check names when every check holds, and fails naming the first that
# does not. The real nixpkgs cannot be fetched here, so nothing is built.
let
  system = "x86_64-linux";
  stub = ./stub-nixpkgs;
  flake = import ../../flake.nix;
  self = outputs // {
    outPath = "/nix/store/00000000000000000000000000000000-bwsandbox-source";
  };
  outputs = flake.outputs {
    inherit self;
    nixpkgs = stub;
  };
  pkgs = import stub {
    inherit system;
    overlays = [ outputs.overlays.default ];
  };
  pyproject = builtins.fromTOML (builtins.readFile ../../pyproject.toml);
  has = needle: haystack: builtins.match ".*${needle}.*" haystack != null;
  hasInfix = needle: haystack: builtins.length (builtins.split (builtins.replaceStrings [ "." "*" "+" "?" "[" "]" "(" ")" "{" "}" "|" "^" "$" "\\" ] [ "\\." "\\*" "\\+" "\\?" "\\[" "\\]" "\\(" "\\)" "\\{" "\\}" "\\|" "\\^" "\\$" "\\\\" ] needle) haystack) > 1;
  fails = expr: !(builtins.tryEval (builtins.deepSeq expr expr)).success;

  package = outputs.packages.${system}.default;
  wrapArgs = package.stubArgs.makeWrapperArgs;
  argAfter =
    flag: var:
    let
      n = builtins.length wrapArgs;
      idx = builtins.filter (
        i: builtins.elemAt wrapArgs i == flag && builtins.elemAt wrapArgs (i + 1) == var
      ) (builtins.genList (i: i) (n - 1));
    in
    if idx == [ ] then "" else builtins.elemAt wrapArgs (builtins.head idx + (if flag == "--prefix" then 3 else 2));

  claudeShell = outputs.devShells.${system}.claude-code.stubArgs;
  claudeWrapper = builtins.head claudeShell.packages;
  devShell = outputs.devShells.${system}.default.stubArgs;
  custom = outputs.lib.wrapAgentShell {
    inherit pkgs;
    agents = {
      codex = pkgs.nix; # any package: the binary name comes from the agent table
    };
    mode = "opt-out";
    packages = [ pkgs.git ];
    shellHook = "echo mine";
    name = "my-agent-shell";
  };
  customArgs = custom.stubArgs;

  checks = {
    "package is bwsandbox at the pyproject version" =
      package.stubArgs.pname == "bwsandbox" && package.stubArgs.version == pyproject.project.version;
    "package builds with hatchling, depends on typer and cryptography" =
      map (p: p.pname) package.stubArgs.build-system == [ "hatchling" ]
      && map (p: p.pname) package.stubArgs.dependencies == [
        "typer"
        "cryptography"
      ];
    "package puts bwrap and nft on PATH" =
      has "bubblewrap/bin" (argAfter "--prefix" "PATH") && has "nftables/bin" (argAfter "--prefix" "PATH");
    "package finds libnftables" = has "nftables/lib" (argAfter "--prefix" "LD_LIBRARY_PATH");
    "package pins bwrap" = has "bubblewrap/bin/bwrap" (argAfter "--set-default" "BWSANDBOX_BWRAP");
    "package source is the flake" = package.stubArgs.src == self;
    "package mainProgram" = package.stubArgs.meta.mainProgram == "agent-sandbox";
    "bwsandbox and default are the same" = outputs.packages.${system}.bwsandbox == package;
    "aarch64 too" = outputs.packages ? aarch64-linux && outputs.devShells ? aarch64-linux;
    "app runs agent-sandbox" =
      outputs.apps.${system}.default.type == "app"
      && outputs.apps.${system}.default.program == "${package}/bin/agent-sandbox";
    "overlay adds bwsandbox and agent-sandbox" =
      pkgs.bwsandbox.stubArgs.pname == "bwsandbox" && pkgs.agent-sandbox == pkgs.bwsandbox;
    "agent shells exist" =
      builtins.attrNames outputs.devShells.${system} == [
        "claude-code"
        "codex"
        "default"
        "opencode"
      ];
    "claude wrapper is bin/claude, first" = claudeWrapper.stubArgs.destination == "/bin/claude";
    "claude wrapper calls the wrapper script with the real binary, opt-in" =
      hasInfix "'claude' '${pkgs.claude-code}/bin/claude' 'opt-in' '${package}/bin/agent-sandbox' \"$@\"" claudeWrapper.stubArgs.text
      && has "agent-wrapper.sh" claudeWrapper.stubArgs.text;
    "claude shell has claude-code and agent-sandbox" =
      builtins.elem pkgs.claude-code claudeShell.packages && builtins.elem package claudeShell.packages;
    "claude shell puts the wrapper first on PATH and reports" =
      hasInfix "export PATH='${claudeWrapper}/bin'" claudeShell.shellHook
      && hasInfix "--status 'opt-in' claude" claudeShell.shellHook;
    "codex and opencode wrap their binaries" =
      (builtins.head outputs.devShells.${system}.codex.stubArgs.packages).stubArgs.destination == "/bin/codex"
      && (builtins.head outputs.devShells.${system}.opencode.stubArgs.packages).stubArgs.destination == "/bin/opencode";
    "dev shell: checkout on PYTHONPATH, bwrap pinned, plugin loaded" =
      hasInfix "PYTHONPATH=\"$PWD" devShell.shellHook
      && hasInfix "BWSANDBOX_BWRAP=" devShell.shellHook
      && hasInfix "-p bwsandbox.pytest_plugin" devShell.shellHook;
    "lib.wrapAgentShell: opt-out, own package, extra mkShell args pass through" =
      customArgs.name == "my-agent-shell"
      && hasInfix "'opt-out'" (builtins.head customArgs.packages).stubArgs.text
      && hasInfix "${pkgs.nix}/bin/codex" (builtins.head customArgs.packages).stubArgs.text
      && builtins.elem pkgs.git customArgs.packages
      && hasInfix "echo mine" customArgs.shellHook
      && !(customArgs ? agents || customArgs ? mode || customArgs ? pkgs);
    "lib rejects a bad mode" = fails (
      outputs.lib.wrapAgentShell {
        inherit pkgs;
        mode = "sometimes";
      }
    ).stubArgs.packages;
    "lib rejects an unknown agent" = fails (outputs.lib.resolveAgents pkgs [ "clippy" ]);
    "lib knows the shipped agent profiles" =
      builtins.all (n: outputs.lib.agents ? ${n}) [
        "claude"
        "codex"
        "opencode"
      ];
    "only claude-code is allowed unfree" =
      let
        allowed = outputs.devShells.${system}.claude-code.stubConfig.allowUnfreePredicate;
      in
      allowed pkgs.claude-code && !(allowed pkgs.codex) && !(allowed { });
  };
  failed = builtins.filter (name: !checks.${name}) (builtins.attrNames checks);
in
if failed == [ ] then builtins.attrNames checks else throw "nix checks failed: ${builtins.concatStringsSep "; " failed}"
