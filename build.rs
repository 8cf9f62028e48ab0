//! Build script: the git revision for `gf --version` (see build/git_rev.rs).

#[path = "build/git_rev.rs"]
mod git_rev;

fn main() {
    let dir = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let env_rev = std::env::var("GF_GIT_REV").ok();
    let r = git_rev::revision(&dir, std::ffi::OsStr::new("git"), env_rev.as_deref());
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/git_rev.rs");
    println!("cargo:rerun-if-env-changed=GF_GIT_REV");
    for p in &r.watch {
        println!("cargo:rerun-if-changed={}", p.display());
    }
    println!("cargo:rustc-env=GF_BUILD_REV={}", r.rev);
}
