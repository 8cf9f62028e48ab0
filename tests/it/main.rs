//! gf's one integration-test binary: every test drives the real `gf` binary.

mod harness;

mod affected;
mod audit;
mod binary_cache;
mod cache;
mod contract;
mod conventions;
mod deploy;
mod drift;
mod fake_kube;
mod gates;
mod http_state;
mod hygiene;
mod inputs;
mod lane;
mod lifecycle;
mod migrate;
mod moto;
mod nix;
mod s3proxy;
mod show;
mod stacks;
mod workflows;
