//! gf's one integration-test binary: every test drives the real `gf` binary.

mod harness;

mod binary_cache;
mod cache;
mod contract;
mod deploy;
mod drift;
mod fake_kube;
mod gates;
mod lane;
mod lifecycle;
mod moto;
mod nix;
mod s3proxy;
