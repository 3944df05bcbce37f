# bwsandbox (the agent-sandbox command) for nixpkgs: pkgs.callPackage ./nix/package.nix { }
{
  lib,
  python3Packages,
  bubblewrap,
  nftables,
  iproute2,
  # the source tree; null: this checkout, without caches and build output
  src ? null,
}:
let
  pyproject = builtins.fromTOML (builtins.readFile ../pyproject.toml);
  ignored = [
    ".git"
    ".venv"
    "__pycache__"
    ".mypy_cache"
    ".pytest_cache"
    ".ruff_cache"
    "result"
    "site"
    "dist"
  ];
  checkout = builtins.path {
    path = ./..;
    name = "bwsandbox-source";
    filter = path: _type: !(builtins.elem (baseNameOf path) ignored);
  };
in
python3Packages.buildPythonApplication {
  pname = pyproject.project.name;
  inherit (pyproject.project) version;
  pyproject = true;
  src = if src == null then checkout else src;

  build-system = [ python3Packages.hatchling ];
  dependencies = with python3Packages; [
    typer
    cryptography
  ];

  # bwrap and nft on PATH; libnftables (loaded with ctypes for --network filtered) on the
  # library path; the sandbox itself never sees these variables (its environment is built
  # from the policy).
  makeWrapperArgs = [
    "--prefix"
    "PATH"
    ":"
    (lib.makeBinPath [
      bubblewrap
      nftables
      iproute2
    ])
    "--prefix"
    "LD_LIBRARY_PATH"
    ":"
    (lib.makeLibraryPath [ nftables ])
    "--set-default"
    "BWSANDBOX_BWRAP"
    "${bubblewrap}/bin/bwrap"
  ];

  # The test suite needs unprivileged user namespaces, which the Nix build sandbox does not
  # give; run it from the dev shell instead (nix develop -c pytest).
  doCheck = false;
  pythonImportsCheck = [
    "bwsandbox"
    "bwsandbox.cli"
  ];

  meta = {
    inherit (pyproject.project) description;
    license = lib.licenses.mit;
    mainProgram = "agent-sandbox";
    platforms = lib.platforms.linux;
  };
}
