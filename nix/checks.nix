# `nix flake check`: what each check proves is written in the README's Nix section.
{
  pkgs,
  self,
  gfLib,
  gf,
  tofu,
  providerCheck,
}:
let
  inherit (pkgs) lib;
  src = toString self;

  # Ordinary values, and values full of HCL-significant characters (`${`, `%{`, quotes, backslashes).
  paritySets = [
    {
      endpoint = "http://rustfs.nix-cache.svc:9000";
      bucket = "gf-state";
    }
    {
      endpoint = "http://h:9000/\${x}\"q\\%{y}";
      bucket = "gf-state.2";
      region = "r-%{1}\"\\$\${z}";
    }
  ];

  # For one set of values: every stack × environment, gf's bytes against backends.nix's file
  # (a dependency of this check, so Nix itself wrote it), and gf's `--nix` path against Nix's.
  parityScript =
    args:
    let
      backends = gfLib.backends args;
      one = env: stack: b: ''
        gf -C ${src} backend ${stack} --env ${env} > rendered
        cmp rendered ${b.path}
        got=$(gf -C ${src} backend ${stack} --env ${env} --nix)
        [ "$got" = "${b.path}" ] || { echo "gf says $got, Nix says ${b.path}" >&2; exit 1; }
        echo "ok ${stack}.${env}" >> $out
      '';
    in
    ''
      export TOFU_BACKEND_S3_ENDPOINT=${lib.escapeShellArg args.endpoint}
      export TOFU_BACKEND_S3_BUCKET=${lib.escapeShellArg args.bucket}
      export TOFU_BACKEND_S3_REGION=${lib.escapeShellArg (args.region or "")}
    ''
    + lib.concatStrings (
      lib.mapAttrsToList (env: stacks: lib.concatStrings (lib.mapAttrsToList (one env) stacks)) backends
    );

  tofuCheck =
    name: script:
    pkgs.runCommand name { nativeBuildInputs = [ tofu ]; } ''
      export HOME=$TMPDIR TF_IN_AUTOMATION=1 TF_INPUT=0
      ${script}
      touch $out
    '';
in
{
  # The package itself, with its tests (see nix/package.nix for the ones the sandbox cannot run).
  inherit gf;

  # What scripts/test.sh (`.ci/run`) rejects before its tests, `nix flake check` rejects too: the
  # same rustfmt and clippy command lines (tests/it/nix.rs compares them).
  cargo-fmt = pkgs.runCommand "gf-cargo-fmt" { nativeBuildInputs = [ pkgs.cargo pkgs.rustfmt ]; } ''
    mkdir source
    cp -r ${src}/Cargo.toml ${src}/Cargo.lock ${src}/rustfmt.toml ${src}/build.rs ${src}/build ${src}/src ${src}/tests source/
    chmod -R u+w source
    cd source
    cargo fmt --all -- --check
    touch $out
  '';

  # The package's own build (vendored Cargo.lock, offline) with clippy instead of `cargo build`.
  cargo-clippy = gf.overrideAttrs (old: {
    pname = "gf-clippy";
    nativeBuildInputs = (old.nativeBuildInputs or [ ]) ++ [ pkgs.clippy ];
    buildPhase = ''
      runHook preBuild
      cargo clippy --all-targets --locked --offline -- -D warnings
      runHook postBuild
    '';
    doCheck = false;
    installPhase = ''
      runHook preInstall
      mkdir -p $out
      runHook postInstall
    '';
  });

  gf-check = pkgs.runCommand "gf-check" { nativeBuildInputs = [ gf ]; } ''
    gf -C ${src} check
    touch $out
  '';

  backends-parity = pkgs.runCommand "gf-backends-parity" { nativeBuildInputs = [ gf ]; } (
    lib.concatMapStrings parityScript paritySets
  );

  tofu-fmt = tofuCheck "gf-tofu-fmt" "tofu fmt -check -recursive -diff ${src}/stacks";

  # The flake's provider builds satisfy the stacks' constraints (nix/provider-check.nix); a
  # mismatch fails here, naming provider, constraint and version, and nowhere else.
  tofu-providers = pkgs.runCommand "gf-tofu-providers" { } (
    if providerCheck.ok then
      "touch $out"
    else
      ''
        cat >&2 <<'EOF'
        ${lib.concatMapStrings (m: "gf: ${m}\n") providerCheck.messages}EOF
        exit 1
      ''
  );
}
// builtins.listToAttrs (
  map (stack: {
    name = "tofu-validate-${stack}";
    value = tofuCheck "gf-tofu-validate-${stack}" ''
      # The whole stacks/ folder: the stack's local modules live beside it (../modules).
      cp -r ${src}/stacks stacks
      chmod -R u+w stacks
      cd stacks/${stack}
      tofu init -backend=false
      tofu validate
    '';
  }) gfLib.stacks
)
