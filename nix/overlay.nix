# nixpkgs overlay: pkgs.bwsandbox (and pkgs.agent-sandbox, the same package).
{
  src ? null,
}:
final: _prev: {
  bwsandbox = final.callPackage ./package.nix { inherit src; };
  agent-sandbox = final.bwsandbox;
}
