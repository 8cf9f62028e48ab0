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
  gf = pkgs.callPackage ./package.nix {
    inherit tofu;
    # `gf --version` names it; Nix 2.8 has no `dirtyShortRev` (a dirty tree then says `unknown`).
    gitRev = self.shortRev or self.dirtyShortRev or null;
  };
in
{
  inherit gf tofu;

  # What `.ci/run` and an operator's day need: the Rust toolchain with rust-analyzer (and the std
  # sources it reads), the pinned tofu, kubectl, helm, actionlint, moto for the tests.
  devShell = pkgs.mkShell {
    packages = [
      pkgs.cargo
      pkgs.rustc
      pkgs.clippy
      pkgs.rustfmt
      pkgs.rust-analyzer
      tofu
      pkgs.kubectl
      pkgs.kubernetes-helm
      pkgs.actionlint
      pkgs.attic-client
      (pkgs.python3.withPackages (ps: [
        ps.moto
        ps.flask
        ps.flask-cors
      ]))
      pkgs.nixfmt
    ];
    RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";
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
