//! tofu's environment: gf's own without what tofu must not see, plus the S3 credentials and the
//! cluster gf chose.

use std::ffi::OsString;
use std::path::Path;

use crate::backend;
use crate::s3state::S3Settings;
use crate::session::Vars;

/// The cluster tofu's kubernetes and helm providers reach: the kubeconfig gf resolved and the
/// environment's context.
#[derive(Debug, Clone)]
pub struct ClusterChoice<'a> {
    /// The kubeconfig files (the session's: `KUBECONFIG`, else `~/.kube/config`).
    pub kubeconfig: &'a [std::path::PathBuf],
    /// The environment's `kube_context`.
    pub context: &'a str,
}

impl ClusterChoice<'_> {
    /// `KUBE_CONFIG_PATH` (one file) or `KUBE_CONFIG_PATHS` (several, `:`-separated), absolute
    /// (tofu runs in the stack folder), the files that exist (as kubectl skips the others), and
    /// `KUBE_CTX`.
    pub fn vars(&self) -> Vec<(OsString, OsString)> {
        let existing: Vec<&std::path::PathBuf> = self.kubeconfig.iter().filter(|p| p.is_file()).collect();
        let files: Vec<std::path::PathBuf> =
            if existing.is_empty() { self.kubeconfig.iter().collect() } else { existing }
                .into_iter()
                .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
                .collect();
        let mut out: Vec<(OsString, OsString)> = Vec::new();
        match files.as_slice() {
            [] => {}
            [one] => out.push(("KUBE_CONFIG_PATH".into(), one.clone().into_os_string())),
            many => {
                let joined = std::env::join_paths(many).unwrap_or_else(|_| many[0].clone().into_os_string());
                out.push(("KUBE_CONFIG_PATHS".into(), joined));
            }
        }
        out.push(("KUBE_CTX".into(), self.context.into()));
        out
    }
}

/// The child's environment: gf's own, without `TF_HTTP_*`, gf's S3 variables, other AWS
/// credentials, the Attic token (tofu needs none of it) and every `KUBE_*` variable (the
/// providers would read `KUBE_HOST`, `KUBE_TOKEN`, `KUBE_CTX`, … as cluster settings); plus the
/// S3 credentials as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` and the cluster gf chose.
pub fn child_env(
    vars: &Vars,
    settings: &S3Settings,
    data_dir: &Path,
    cluster: &ClusterChoice<'_>,
) -> Vec<(OsString, OsString)> {
    const DROP: &[&str] = &[
        backend::ENV_ACCESS_KEY,
        backend::ENV_SECRET_KEY,
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "GF_ATTIC_TOKEN",
        "TF_DATA_DIR",
        "TF_WORKSPACE",
        "TF_CLI_ARGS",
        // tofu's log file would hold the request headers, credentials included.
        "TF_LOG_PATH",
    ];
    let mut env: Vec<(OsString, OsString)> = vars
        .iter()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !k.starts_with("TF_HTTP_")
                && !k.starts_with("TF_CLI_ARGS_")
                && !k.starts_with("KUBE_")
                && !DROP.contains(&k.as_ref())
        })
        .map(|(k, v)| (k.to_os_string(), v.to_os_string()))
        .collect();
    let mut add = |k: &str, v: &str| env.push((k.into(), v.into()));
    add("AWS_ACCESS_KEY_ID", &settings.access_key);
    add("AWS_SECRET_ACCESS_KEY", &settings.secret_key);
    add("TF_IN_AUTOMATION", "1");
    add("TF_INPUT", "0");
    // No upgrade check calling out to checkpoint-api.hashicorp.com from a deploy.
    add("CHECKPOINT_DISABLE", "1");
    env.push(("TF_DATA_DIR".into(), data_dir.as_os_str().to_os_string()));
    env.extend(cluster.vars());
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::S3Location;

    fn settings() -> S3Settings {
        S3Settings {
            location: S3Location { endpoint: "http://e".into(), bucket: "b".into(), region: "r".into() },
            access_key: "AK".into(),
            secret_key: "SK".into(),
        }
    }

    #[test]
    fn child_env_carries_credentials_only_as_aws_variables() {
        let vars = Vars::from_pairs([
            ("PATH", "/bin"),
            ("TF_HTTP_PASSWORD", "x"),
            ("TOFU_BACKEND_S3_SECRET_KEY", "SK"),
            ("TOFU_BACKEND_S3_ACCESS_KEY", "AK"),
            ("AWS_SECRET_ACCESS_KEY", "other"),
            ("GF_ATTIC_TOKEN", "jwt"),
            ("TF_CLI_ARGS_plan", "-lock=false"),
            ("KUBE_HOST", "https://elsewhere:6443"),
            ("KUBE_CTX", "elsewhere"),
            ("KUBE_CONFIG_PATH", "/other/kubeconfig"),
            ("KUBE_CONTEXT", "honey"),
        ]);
        let one = [std::path::PathBuf::from("/k/config")];
        let env = child_env(&vars, &settings(), Path::new("/d"), &ClusterChoice { kubeconfig: &one, context: "honey" });
        let get = |k: &str| {
            env.iter().filter(|(n, _)| n == k).map(|(_, v)| v.to_string_lossy().into_owned()).collect::<Vec<_>>()
        };
        assert_eq!(get("AWS_SECRET_ACCESS_KEY"), ["SK"]);
        assert_eq!(get("AWS_ACCESS_KEY_ID"), ["AK"]);
        assert!(get("TF_HTTP_PASSWORD").is_empty());
        assert!(get("TOFU_BACKEND_S3_SECRET_KEY").is_empty());
        assert!(get("GF_ATTIC_TOKEN").is_empty());
        assert!(get("TF_CLI_ARGS_plan").is_empty(), "TF_CLI_ARGS_* would get around the allowlist");
        assert_eq!(get("PATH"), ["/bin"]);
        assert_eq!(get("TF_DATA_DIR"), ["/d"]);
        assert!(get("KUBE_HOST").is_empty() && get("KUBE_CONTEXT").is_empty(), "gf alone chooses the cluster");
        assert_eq!(get("KUBE_CTX"), ["honey"]);
        assert_eq!(get("KUBE_CONFIG_PATH"), ["/k/config"]);
        assert!(get("KUBE_CONFIG_PATHS").is_empty());
    }

    #[test]
    fn several_kubeconfig_files_become_kube_config_paths_of_those_that_exist() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "").unwrap();
        std::fs::write(&b, "").unwrap();
        let files = [a.clone(), dir.path().join("missing"), b.clone()];
        let v = ClusterChoice { kubeconfig: &files, context: "honey" }.vars();
        let want = format!("{}:{}", a.display(), b.display());
        assert_eq!(v[0], (OsString::from("KUBE_CONFIG_PATHS"), OsString::from(want)));
        let rel = [std::path::PathBuf::from("relative/kubeconfig")];
        let v = ClusterChoice { kubeconfig: &rel, context: "honey" }.vars();
        assert!(std::path::Path::new(&v[0].1).is_absolute(), "{v:?}");
    }
}
