//! gf, the GloriousFlywheel deploy tool: the deployment contract as checked data, S3 backend
//! files, the tofu lifecycle with its safety gates, the heavy Nix lane and the Attic cache gate.
//!
//! The binary is thin (`main.rs`); this library is what it and the integration tests use.

pub mod app;
pub mod backend;
pub mod cache;
pub mod check;
pub mod cli;
pub mod context;
pub mod contract;
pub mod doctor;
pub mod exit;
pub mod lane;
pub mod lifecycle;
pub mod nix;
pub mod process;
pub mod s3state;
pub mod session;
pub mod signals;
pub mod state;
pub mod status;
pub mod tofu;
pub mod ui;
