//! Finding the binary: `GF_TOFU`, the path baked in by Nix, `tofu` on `PATH`, then `terraform`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::TofuError;

/// Where the binary came from (SPEC order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `GF_TOFU`.
    GfTofu,
    /// The path baked in at build time (`GF_BAKED_TOFU`, set by the Nix package).
    Baked,
    /// `tofu` on `PATH`.
    PathTofu,
    /// `terraform` on `PATH` (warned about).
    PathTerraform,
}

impl Source {
    /// A phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::GfTofu => "`GF_TOFU`",
            Self::Baked => "the path baked in by Nix",
            Self::PathTofu => "`tofu` on `PATH`",
            Self::PathTerraform => "`terraform` on `PATH`",
        }
    }
}

/// A located binary (not yet run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// Absolute (or as given) path.
    pub path: PathBuf,
    /// Where it came from.
    pub source: Source,
}

/// The baked-in path, if the build set one.
pub fn baked() -> Option<&'static str> {
    option_env!("GF_BAKED_TOFU").filter(|p| !p.is_empty())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn on_path(name: &str, path_var: Option<&str>) -> Option<PathBuf> {
    std::env::split_paths(path_var?).map(|d| d.join(name)).find(|p| is_executable(p))
}

/// Find the binary: `GF_TOFU`, the baked-in path, `tofu` on `PATH`, then `terraform` on `PATH`.
pub fn locate(lookup: impl Fn(&str) -> Option<String>) -> Result<Located, TofuError> {
    if let Some(p) = lookup("GF_TOFU").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(p);
        // A bare name in GF_TOFU is looked up on PATH like a shell would.
        let path = if path.components().count() == 1 {
            on_path(&path.to_string_lossy(), lookup("PATH").as_deref()).unwrap_or(path)
        } else {
            path
        };
        return if is_executable(&path) {
            Ok(Located { path, source: Source::GfTofu })
        } else {
            Err(TofuError::NotExecutable { path, source_name: "`GF_TOFU`" })
        };
    }
    if let Some(p) = baked() {
        let path = PathBuf::from(p);
        return if is_executable(&path) {
            Ok(Located { path, source: Source::Baked })
        } else {
            Err(TofuError::NotExecutable { path, source_name: "the path baked in by Nix" })
        };
    }
    let path_var = lookup("PATH");
    if let Some(path) = on_path("tofu", path_var.as_deref()) {
        return Ok(Located { path, source: Source::PathTofu });
    }
    if let Some(path) = on_path("terraform", path_var.as_deref()) {
        return Ok(Located { path, source: Source::PathTerraform });
    }
    Err(TofuError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gf_tofu_wins_and_must_be_executable() {
        let err = locate(|k| (k == "GF_TOFU").then(|| "/nonexistent/tofu".into())).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/tofu"), "{err}");
        let ok = locate(|k| match k {
            "GF_TOFU" => Some("/bin/sh".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(ok.source, Source::GfTofu);
    }

    #[test]
    fn falls_back_to_terraform_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let tf = dir.path().join("terraform");
        std::fs::write(&tf, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&tf, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let path = dir.path().to_string_lossy().into_owned();
        if baked().is_none() {
            let l = locate(|k| (k == "PATH").then(|| path.clone())).unwrap();
            assert_eq!(l.source, Source::PathTerraform);
            std::fs::copy(&tf, dir.path().join("tofu")).unwrap();
            assert_eq!(locate(|k| (k == "PATH").then(|| path.clone())).unwrap().source, Source::PathTofu);
        }
        assert!(matches!(locate(|_| None), Err(TofuError::NotFound)) || baked().is_some());
    }
}
