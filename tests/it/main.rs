//! gf's one integration-test binary: every test drives the real `gf` binary.

mod harness;

mod binary_cache;
mod cache;
mod contract;
mod deploy;
mod fake_kube;
mod http_state;
mod lane;
mod lifecycle;
mod migrate;
mod moto;
mod nix;
