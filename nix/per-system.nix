# Everything of the flake that needs nixpkgs, for one system.
{
  self,
  pkgs,
  gfLib,
}:
let
  providers = import ./providers.nix { root = self; };
  tofu = import ./tofu.nix {
    inherit (pkgs) opentofu;
    inherit providers;
  };
  # The provider builds OpenTofu's `withPlugins` picks from.
  providerCheck = import ./provider-check.nix {
    inherit providers;
    available = pkgs.opentofu.plugins or pkgs.terraform-providers;
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
    ];
  };

  checks = import ./checks.nix {
    inherit
      pkgs
      self
      gfLib
      gf
      tofu
      providerCheck
      ;
  };

  # `nix fmt`: nixfmt over the tree.
  formatter = pkgs.nixfmt-tree;
}
