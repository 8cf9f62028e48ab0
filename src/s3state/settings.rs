//! S3 settings: endpoint, bucket, region and credentials from the environment.

use std::fmt;

use super::S3StateError;
use crate::backend::{self, BackendError, S3Location};

/// Endpoint, bucket, region and credentials. `Debug` never shows the credentials.
#[derive(Clone)]
pub struct S3Settings {
    /// Where.
    pub location: S3Location,
    /// `TOFU_BACKEND_S3_ACCESS_KEY`.
    pub access_key: String,
    /// `TOFU_BACKEND_S3_SECRET_KEY`.
    pub secret_key: String,
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings").field("location", &self.location).finish_non_exhaustive()
    }
}

impl S3Settings {
    /// Read everything from `lookup`, naming every missing variable at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, default_region: &str) -> Result<Self, S3StateError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let mut missing = Vec::new();
        let location = match S3Location::from_lookup(&lookup, default_region) {
            Ok(l) => Some(l),
            Err(BackendError::Missing(vars)) => {
                missing.extend(vars);
                None
            }
            Err(e) => return Err(e.into()),
        };
        let access_key = get(backend::ENV_ACCESS_KEY);
        let secret_key = get(backend::ENV_SECRET_KEY);
        if access_key.is_none() {
            missing.push(backend::ENV_ACCESS_KEY);
        }
        if secret_key.is_none() {
            missing.push(backend::ENV_SECRET_KEY);
        }
        match (location, access_key, secret_key) {
            (Some(location), Some(access_key), Some(secret_key)) => Ok(Self { location, access_key, secret_key }),
            _ => Err(S3StateError::Missing(missing)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_missing_variable_and_never_shows_secrets() {
        let err = S3Settings::from_lookup(|_| None, "r").unwrap_err().to_string();
        for v in ["TOFU_BACKEND_S3_ENDPOINT", "TOFU_BACKEND_S3_BUCKET", "TOFU_BACKEND_S3_ACCESS_KEY"] {
            assert!(err.contains(v), "{err}");
        }
        let s = S3Settings::from_lookup(
            |k| Some(if k == "TOFU_BACKEND_S3_BUCKET" { "gf-state".into() } else { format!("SENTINEL-{k}") }),
            "r",
        )
        .unwrap();
        assert!(!format!("{s:?}").contains("SENTINEL-TOFU_BACKEND_S3_SECRET_KEY"));
        let err = S3Settings::from_lookup(|k| (k != "TOFU_BACKEND_S3_SECRET_KEY").then(|| "vvv".into()), "r");
        assert_eq!(err.unwrap_err().to_string(), "the S3 state backend needs `TOFU_BACKEND_S3_SECRET_KEY`: not set");
    }
}
