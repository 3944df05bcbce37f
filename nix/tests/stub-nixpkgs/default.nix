# A stand-in for nixpkgs, for evaluating the flake offline (scripts/check-nix.sh): every
# package is an attrset with a fake store path; builders return their arguments so the
# checks can look at what the flake asked for. It builds nothing and fetches nothing.
{
  system ? "x86_64-linux",
  overlays ? [ ],
  config ? { },
}:
let
  fake = name: {
    inherit name;
    pname = name;
    type = "derivation";
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  join = sep: list: builtins.concatStringsSep sep list;
  base = self: {
    inherit system config;
    lib = {
      makeBinPath = ps: join ":" (map (p: "${p}/bin") ps);
      makeLibraryPath = ps: join ":" (map (p: "${p}/lib") ps);
      licenses.mit = "mit";
      platforms.linux = [
        "x86_64-linux"
        "aarch64-linux"
      ];
    };
    callPackage =
      fn: overrides:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) self // overrides);
    python3Packages = {
      buildPythonApplication = args: fake "${args.pname}-${args.version}" // { stubArgs = args; };
      hatchling = fake "hatchling";
      typer = fake "typer";
      platformdirs = fake "platformdirs";
      cryptography = fake "cryptography";
    };
    python3.withPackages = _f: fake "python3-env";
    writeTextFile = args: fake args.name // { stubArgs = args; };
    writeShellScriptBin = name: text: fake name // { stubArgs = { inherit name text; }; };
    mkShell = args: fake "nix-shell" // { stubArgs = args; stubConfig = config; };
    bash = fake "bash";
    bubblewrap = fake "bubblewrap";
    nftables = fake "nftables";
    iproute2 = fake "iproute2";
    ruff = fake "ruff";
    git = fake "git";
    hyperfine = fake "hyperfine";
    nix = fake "nix";
    claude-code = fake "claude-code";
    codex = fake "codex";
    opencode = fake "opencode";
    gemini-cli = fake "gemini-cli";
  };
  # the overlay fixpoint, as nixpkgs does it
  apply = prev: overlay: prev // overlay final prev;
  final = builtins.foldl' apply (base final) overlays;
in
final
