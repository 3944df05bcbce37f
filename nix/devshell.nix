# The shell for developing bwsandbox: nix develop, then pytest / ruff / mypy / mkdocs.
# The checkout is used in place (PYTHONPATH), like an editable install.
{ pkgs }:
let
  python = pkgs.python3.withPackages (
    ps: with ps; [
      typer
      platformdirs
      cryptography
      pytest
      mypy
      hatchling
      build
      mkdocs
      mkdocs-material
    ]
  );
  agentSandbox = pkgs.writeShellScriptBin "agent-sandbox" ''
    exec '${python}/bin/python' -m bwsandbox.cli "$@"
  '';
in
pkgs.mkShell {
  packages = [
    python
    agentSandbox
    pkgs.ruff
    pkgs.bubblewrap
    pkgs.nftables
    pkgs.iproute2
    pkgs.git
    pkgs.hyperfine
    pkgs.nix
  ];
  shellHook = ''
    export PYTHONPATH="$PWD''${PYTHONPATH:+:$PYTHONPATH}"
    export LD_LIBRARY_PATH='${pkgs.lib.makeLibraryPath [ pkgs.nftables ]}'"''${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export BWSANDBOX_BWRAP='${pkgs.bubblewrap}/bin/bwrap'
    # the pytest plugin is registered by the wheel's entry point; from the checkout, by name
    export PYTEST_ADDOPTS="-p bwsandbox.pytest_plugin''${PYTEST_ADDOPTS:+ $PYTEST_ADDOPTS}"
  '';
}
