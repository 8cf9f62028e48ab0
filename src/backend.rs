//! S3 backend files: the `.tfbackend` HCL (and JSON) gf passes to `tofu init -backend-config`.
//!
//! A backend holds the endpoint, bucket, key and region only. Credentials are no part of it: they
//! reach tofu through the child's environment. `nix/backends.nix` renders the same bytes.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use crate::contract::{ContractError, Stack, shown};

/// Environment variable of the S3 endpoint.
pub const ENV_ENDPOINT: &str = "TOFU_BACKEND_S3_ENDPOINT";
/// Environment variable of the bucket.
pub const ENV_BUCKET: &str = "TOFU_BACKEND_S3_BUCKET";
/// Environment variable of the region (optional; else the contract's).
pub const ENV_REGION: &str = "TOFU_BACKEND_S3_REGION";
/// Environment variable of the access key (secret: child environment only).
pub const ENV_ACCESS_KEY: &str = "TOFU_BACKEND_S3_ACCESS_KEY";
/// Environment variable of the secret key (secret: child environment only).
pub const ENV_SECRET_KEY: &str = "TOFU_BACKEND_S3_SECRET_KEY";

/// Errors of rendering a backend.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// Endpoint and/or bucket unset.
    #[error("cannot render the S3 backend: {} not set", missing_list(.0))]
    Missing(Vec<&'static str>),
    /// `TOFU_BACKEND_S3_ENDPOINT` with user info (never shown).
    #[error(transparent)]
    UserInfo(#[from] crate::endpoint::UserInfo),
    /// A value that cannot be written into a backend file.
    #[error("`{var}` contains a control character; refusing to render it into a backend file")]
    ControlChar {
        /// The variable (or contract field) holding it.
        var: &'static str,
    },
    /// `TOFU_BACKEND_S3_BUCKET` breaks S3's bucket-name rules.
    #[error("`{ENV_BUCKET}` (`{bucket}`) is not a valid S3 bucket name: {reason}")]
    Bucket {
        /// The name, as it may be shown.
        bucket: String,
        /// Which rule it breaks.
        reason: String,
    },
    /// Contract lookups.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// Writing the file.
    #[error("cannot write `{path}`: {source}")]
    Write {
        /// Destination.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn missing_list(vars: &[&str]) -> String {
    let names: Vec<_> = vars.iter().map(|v| format!("`{v}`")).collect();
    if names.len() == 1 { format!("{} is", names[0]) } else { format!("{} are", names.join(" and ")) }
}

/// Where the S3 state backend is (no credential).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct S3Location {
    /// Endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
}

impl S3Location {
    /// Read endpoint, bucket and region from `lookup` (the process environment in production),
    /// falling back to `default_region`. Names every missing variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, default_region: &str) -> Result<Self, BackendError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        let endpoint = get(ENV_ENDPOINT);
        let bucket = get(ENV_BUCKET);
        let mut missing = Vec::new();
        if endpoint.is_none() {
            missing.push(ENV_ENDPOINT);
        }
        if bucket.is_none() {
            missing.push(ENV_BUCKET);
        }
        match (endpoint, bucket) {
            (Some(endpoint), Some(bucket)) => {
                crate::endpoint::refuse_user_info(
                    &endpoint,
                    "S3 endpoint",
                    "`TOFU_BACKEND_S3_ENDPOINT`",
                    "give the credentials in `TOFU_BACKEND_S3_ACCESS_KEY` and `TOFU_BACKEND_S3_SECRET_KEY`",
                )?;
                let region = get(ENV_REGION).unwrap_or_else(|| default_region.to_string());
                for (var, v) in [(ENV_ENDPOINT, &endpoint), (ENV_BUCKET, &bucket), (ENV_REGION, &region)] {
                    if v.chars().any(char::is_control) {
                        return Err(BackendError::ControlChar { var });
                    }
                }
                if let Some(reason) = bucket_problem(&bucket) {
                    return Err(BackendError::Bucket { bucket: shown(&bucket), reason });
                }
                Ok(Self { endpoint, bucket, region })
            }
            _ => Err(BackendError::Missing(missing)),
        }
    }
}

/// Why `bucket` is not an S3 bucket name, if it is not one: 3 to 63 characters, lowercase
/// letters, digits, `.` and `-`, starting and ending with a letter or digit, no `..`, not an IPv4
/// address. A `/` would move into the object key: the state would land under another key.
pub fn bucket_problem(bucket: &str) -> Option<String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if bucket.contains('/') {
        Some("it contains `/`, which would move into the object key".into())
    } else if let Some(c) = bucket.chars().find(|c| !(alnum(*c) || *c == '.' || *c == '-')) {
        Some(format!("`{}` is not a lowercase letter, digit, `.` or `-`", shown(c.encode_utf8(&mut [0; 4]))))
    } else if !(3..=63).contains(&bucket.len()) {
        Some(format!("it is {} characters long; bucket names have 3 to 63", bucket.len()))
    } else if !bucket.starts_with(alnum) || !bucket.ends_with(alnum) {
        Some("it must start and end with a lowercase letter or digit".into())
    } else if bucket.contains("..") {
        Some("it has two adjacent periods".into())
    } else if bucket.split('.').count() == 4
        && bucket.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Some("it is formatted as an IP address".into())
    } else {
        None
    }
}

/// One rendered backend for a stack and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Stack name.
    pub stack: String,
    /// Environment name.
    pub env: String,
    /// Where.
    pub location: S3Location,
    /// The state key, exactly as the manifest writes it.
    pub key: String,
}

/// The boolean attributes, in SPEC order, after `endpoints`.
pub const FLAGS: [&str; 7] = [
    "use_path_style",
    "skip_credentials_validation",
    "skip_region_validation",
    "skip_requesting_account_id",
    "skip_metadata_api_check",
    "skip_s3_checksum",
    "use_lockfile",
];

impl Backend {
    /// The backend of `stack` in `env`; refuses an environment the stack has no key for.
    pub fn new(stack: &Stack, env: &str, location: S3Location) -> Result<Self, BackendError> {
        let key = stack.state_key(env)?.to_string();
        Ok(Self { stack: stack.name.clone(), env: env.to_string(), location, key })
    }

    /// `<stack>.<env>.s3.tfbackend`.
    pub fn file_name(&self) -> String {
        file_name(&self.stack, &self.env)
    }

    /// The `.tfbackend` bytes: SPEC attribute order, one per line, final newline.
    pub fn to_tfbackend(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "bucket = {}", hcl_string(&self.location.bucket));
        let _ = writeln!(out, "key = {}", hcl_string(&self.key));
        let _ = writeln!(out, "region = {}", hcl_string(&self.location.region));
        let _ = writeln!(out, "endpoints = {{ s3 = {} }}", hcl_string(&self.location.endpoint));
        for flag in FLAGS {
            let _ = writeln!(out, "{flag} = true");
        }
        out
    }

    /// The same attributes as one JSON object (`endpoints` nested), in the same order.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        m.insert("bucket".into(), self.location.bucket.clone().into());
        m.insert("key".into(), self.key.clone().into());
        m.insert("region".into(), self.location.region.clone().into());
        m.insert("endpoints".into(), serde_json::json!({ "s3": self.location.endpoint }));
        for flag in FLAGS {
            m.insert(flag.into(), true.into());
        }
        serde_json::Value::Object(m)
    }

    /// SHA-256 (hex) of the `.tfbackend` bytes: recorded at init and in plan metadata.
    pub fn digest(&self) -> String {
        hex(&Sha256::digest(self.to_tfbackend().as_bytes()))
    }
}

/// `<stack>.<env>.s3.tfbackend`.
pub fn file_name(stack: &str, env: &str) -> String {
    format!("{stack}.{env}.s3.tfbackend")
}

/// A quoted HCL string literal. Escapes `\`, `"`, and the template sequences `${` and `%{`
/// (so a value is never interpolated). Control characters are refused before rendering.
pub fn hcl_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> Backend {
        Backend {
            stack: "attic".into(),
            env: "dev".into(),
            location: S3Location {
                endpoint: "http://rustfs.nix-cache.svc:9000".into(),
                bucket: "gf-state".into(),
                region: "us-east-1".into(),
            },
            key: "attic/terraform.tfstate".into(),
        }
    }

    #[test]
    fn renders_in_spec_order() {
        assert_eq!(
            backend().to_tfbackend(),
            "bucket = \"gf-state\"\n\
             key = \"attic/terraform.tfstate\"\n\
             region = \"us-east-1\"\n\
             endpoints = { s3 = \"http://rustfs.nix-cache.svc:9000\" }\n\
             use_path_style = true\n\
             skip_credentials_validation = true\n\
             skip_region_validation = true\n\
             skip_requesting_account_id = true\n\
             skip_metadata_api_check = true\n\
             skip_s3_checksum = true\n\
             use_lockfile = true\n"
        );
    }

    #[test]
    fn json_has_the_same_attributes_in_order() {
        let j = backend().to_json();
        let keys: Vec<_> = j.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys[..4], ["bucket", "key", "region", "endpoints"]);
        assert_eq!(keys[4..], FLAGS.map(String::from));
        assert_eq!(j["endpoints"]["s3"], "http://rustfs.nix-cache.svc:9000");
    }

    #[test]
    fn escapes_hcl_significant_characters() {
        assert_eq!(hcl_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(hcl_string("${var.x}"), "\"$${var.x}\"");
        assert_eq!(hcl_string("%{ if }"), "\"%%{ if }\"");
        assert_eq!(hcl_string("$x %d {"), "\"$x %d {\"");
        assert_eq!(hcl_string("$${"), "\"$$${\"");
    }

    #[test]
    fn escaped_values_parse_back_as_the_same_string() {
        let value = r#"q"uote\back${x}%{y}$z"#;
        let b = Backend { location: S3Location { bucket: value.into(), ..backend().location }, ..backend() };
        let body: hcl_edit::structure::Body = b.to_tfbackend().parse().unwrap();
        let attr = body.get_attribute("bucket").unwrap();
        // A template with escaped markers is a literal: its only element is the original text.
        let expr = attr.value.to_string();
        assert_eq!(expr.trim(), hcl_string(value));
    }

    #[test]
    fn names_every_missing_variable() {
        let err = S3Location::from_lookup(|_| None, "us-east-1").unwrap_err().to_string();
        assert!(err.contains(ENV_ENDPOINT) && err.contains(ENV_BUCKET), "{err}");
        let err = S3Location::from_lookup(|k| (k == ENV_ENDPOINT).then(|| "http://x".into()), "r").unwrap_err();
        assert!(err.to_string().contains(ENV_BUCKET) && !err.to_string().contains(ENV_ENDPOINT));
    }

    #[test]
    fn refuses_control_characters() {
        let err = S3Location::from_lookup(|k| Some(if k == ENV_BUCKET { "a\nb".into() } else { "x".into() }), "r");
        assert!(matches!(err, Err(BackendError::ControlChar { var: ENV_BUCKET })));
    }

    #[test]
    fn refuses_user_info_in_the_endpoint_without_showing_it() {
        let lookup = |k: &str| Some(if k == ENV_ENDPOINT { "http://u:SENTINEL@h:9000".into() } else { "b-1".into() });
        let err = S3Location::from_lookup(lookup, "r").unwrap_err();
        assert!(matches!(err, BackendError::UserInfo(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("`TOFU_BACKEND_S3_ENDPOINT` contains `@`") && !msg.contains("SENTINEL"), "{msg}");
    }

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in ["gf-state", "abc", "a.b-c.1", "192.168.5", "1.2.3.4.5", &"b".repeat(63)] {
            assert_eq!(bucket_problem(good), None, "{good}");
        }
        for (bad, why) in [
            ("gf/state", "`/`"),
            ("gf-state/", "`/`"),
            ("Gf-state", "`G`"),
            ("gf_state", "`_`"),
            ("gf state", "` `"),
            ("gf\u{202e}x", "`\\u{202e}`"),
            ("ab", "2 characters"),
            (&"b".repeat(64), "64 characters"),
            ("-gf", "start and end"),
            ("gf.", "start and end"),
            ("gf..state", "adjacent periods"),
            ("192.168.5.4", "IP address"),
        ] {
            let p = bucket_problem(bad).unwrap_or_else(|| panic!("{bad} passed"));
            assert!(p.contains(why), "{bad}: {p}");
        }
        let err =
            S3Location::from_lookup(|k| Some(if k == ENV_BUCKET { "gf/x".into() } else { "http://h".into() }), "r");
        let msg = err.unwrap_err().to_string();
        assert!(msg.starts_with("`TOFU_BACKEND_S3_BUCKET` (`gf/x`) is not a valid S3 bucket name"), "{msg}");
    }

    #[test]
    fn region_defaults_to_the_contract() {
        let loc = S3Location::from_lookup(|k| (k != ENV_REGION).then(|| "vvv".into()), "eu-1").unwrap();
        assert_eq!(loc.region, "eu-1");
    }
}
