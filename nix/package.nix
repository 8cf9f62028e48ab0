# gf, built from Cargo.lock, with the pinned tofu's path baked in (`GF_BAKED_TOFU`, read by
# `option_env!`): `nix run .#gf` runs that tofu unless `GF_TOFU` says otherwise.
{
  lib,
  rustPlatform,
  tofu,
}:
let
  cargo = (builtins.fromTOML (builtins.readFile ../Cargo.toml)).package;
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
      ../src
      ../stacks
      ../tests
    ];
  };
  cargoLock.lockFile = ../Cargo.lock;

  env.GF_BAKED_TOFU = "${tofu}/bin/tofu";

  # The build sandbox has no writable Nix store (the `nix` and `cache` tests create store paths
  # and binary caches with real Nix) and no S3 server or tofu (the `lifecycle`, `deploy` and
  # `state` tests run real tofu against moto; the `stacks` tests run `terraform test` over the
  # stacks' value modules with a tofu on PATH). Those run in `.ci/run`; here: every other test,
  # unit and integration (the contract checks and the lane against its in-process fake API).
  # libtest's --skip matches substrings, so the unit tests of those modules are skipped here too.
  checkFlags = map (module: "--skip=${module}::") [
    "nix"
    "cache"
    "lifecycle"
    "deploy"
    "state"
    "stacks"
  ];

  meta = {
    inherit (cargo) description;
    license = lib.licenses.mit;
    mainProgram = "gf";
  };
}
