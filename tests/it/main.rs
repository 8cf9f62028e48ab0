//! gf's one integration-test binary: every test drives the real `gf` binary.

mod harness;

mod contract;
mod lifecycle;
mod moto;
