# gf, built from Cargo.lock, with the pinned tofu's path baked in (`GF_BAKED_TOFU`, read by
# `option_env!`): `nix run .#gf` runs that tofu unless `GF_TOFU` says otherwise. `gitRev` (the
# flake's `self.shortRev or self.dirtyShortRev`) is what `gf --version` names: the source Nix
# builds has no `.git`, so build.rs falls back to `GF_GIT_REV`.
{
  lib,
  rustPlatform,
  tofu,
  git,
  gitRev ? null,
}:
let
  cargo = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).package;
  skips = import ./sandbox-skips.nix;
in
rustPlatform.buildRustPackage {
  pname = cargo.name;
  inherit (cargo) version;

  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../rustfmt.toml
      ../build.rs
      ../build
      ../src
      ../stacks
      ../tests
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  env = {
    GF_BAKED_TOFU = "${tofu}/bin/tofu";
  }
  // (if gitRev == null then { } else { GF_GIT_REV = gitRev; });

  # The build-revision tests make git repositories of their own.
  nativeCheckInputs = [ git ];
  # The cache client's and the fake Kubernetes API's tests listen on loopback.
  __darwinAllowLocalNetworking = true;

  # The sandbox has no Nix store of its own, no S3 server and no tofu: the integration tests that
  # need them (./sandbox-skips.nix, by exact name) run in `.ci/run`. Every other test runs here,
  # every unit test included.
  checkFlags = [ "--exact" ] ++ map (name: "--skip=${name}") (skips.store ++ skips.moto ++ skips.tofu);

  meta = {
    inherit (cargo) description;
    license = lib.licenses.mit;
    mainProgram = "gf";
  };
}
