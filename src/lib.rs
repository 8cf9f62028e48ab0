//! gf, the GloriousFlywheel deploy tool: the deployment contract as checked data, S3 backend
//! files, the tofu lifecycle with its safety gates, the heavy Nix lane and the Attic cache gate.
//!
//! The binary is thin (`main.rs`); this library is what it and the integration tests use.

pub mod affected;
pub mod app;
pub mod backend;
pub mod cache;
pub mod check;
pub mod cli;
pub mod context;
pub mod contract;
pub mod doctor;
pub mod endpoint;
pub mod exit;
pub mod httpstate;
pub mod inputs;
pub mod lane;
pub mod lifecycle;
pub mod migrate;
pub mod nix;
pub mod process;
pub mod providers;
pub mod s3state;
pub mod scalesets;
pub mod session;
pub mod show;
pub mod signals;
pub mod sources;
pub mod state;
pub mod status;
#[cfg(test)]
mod testrepo;
pub mod tofu;
pub mod ui;
pub mod variables;

/// gf's version and the git revision it was built from (build.rs): `0.1.0 (1a2b3c4)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("GF_BUILD_REV"), ")");
