# The flake's outputs. `lib` is pure (builtins only) and needs no input; everything else is per
# system and needs nixpkgs. Attribute names never depend on nixpkgs, so the outputs' shape
# evaluates without it (tests/it/nix.rs does that with a stand-in `nixpkgs`).
{
  self,
  nixpkgs,
}:
let
  gfLib = import ./lib.nix { root = self; };
  forAllSystems =
    f:
    builtins.listToAttrs (
      map (system: {
        name = system;
        value = f system;
      }) gfLib.systems
    );
  per = forAllSystems (
    system:
    import ./per-system.nix {
      inherit self gfLib;
      pkgs = nixpkgs.legacyPackages.${system};
    }
  );
in
{
  lib = gfLib;

  packages = forAllSystems (system: {
    inherit (per.${system}) gf tofu;
    default = per.${system}.gf;
  });

  apps = forAllSystems (
    system:
    let
      gf = {
        type = "app";
        program = "${per.${system}.gf}/bin/gf";
        meta.description = "gf, with the pinned tofu";
      };
    in
    {
      inherit gf;
      default = gf;
    }
  );

  devShells = forAllSystems (system: {
    default = per.${system}.devShell;
  });

  checks = forAllSystems (system: per.${system}.checks);

  formatter = forAllSystems (system: per.${system}.formatter);
}
