# Everything of the flake that needs nixpkgs, for one system.
{
  self,
  pkgs,
  gfLib,
}:
let
  tofu = import ./tofu.nix {
    inherit (pkgs) opentofu;
    inherit (gfLib) providers;
  };
  gf = pkgs.callPackage ./package.nix { inherit tofu; };
in
{
  inherit gf tofu;

  devShell = pkgs.mkShell {
    packages = [
      pkgs.cargo
      pkgs.rustc
      pkgs.clippy
      pkgs.rustfmt
      tofu
      pkgs.kubectl
      pkgs.attic-client
      (pkgs.python3.withPackages (ps: [
        ps.moto
        ps.flask
        ps.flask-cors
      ]))
      pkgs.nixfmt
      # scripts/test.sh lints .github/workflows with it.
      pkgs.actionlint
    ];
  };

  checks = import ./checks.nix {
    inherit
      pkgs
      self
      gfLib
      gf
      tofu
      ;
  };

  # `nix fmt`: nixfmt over the tree.
  formatter = pkgs.nixfmt-tree;
}
