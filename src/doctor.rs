//! `gf doctor`: preflight of the environment — environment and kube context, the cluster behind
//! the context (its `kube-system` UID, and the contract line recording it), S3 reachability and
//! bucket, tofu version, `TF_HTTP_*` leftovers, and whether the Attic cache answers.

use serde::Serialize;

use crate::backend::{self, BackendError, S3Location};
use crate::context::{self, ContextStatus};
use crate::s3state::{ObjectStore as _, S3Settings};
use crate::session::{Session, World};
use crate::{exit, tofu, ui};

/// Errors of `gf doctor` (its findings are a report, not errors).
#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// The JSON document.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl exit::Refusal for DoctorError {
    fn refusal(&self) -> Option<&exit::Refused> {
        None
    }
}

#[derive(Debug, Serialize)]
struct S3Check {
    endpoint: Option<String>,
    bucket: Option<String>,
    region: String,
    missing: Vec<&'static str>,
    reachable: Option<bool>,
    detail: String,
}

#[derive(Debug, Serialize)]
struct ClusterCheck {
    /// The context gf deploys through (the environment's `kube_context`).
    context: String,
    /// The kubeconfig files read.
    kubeconfig: Vec<String>,
    /// `kube-system`'s UID as observed.
    uid: Option<String>,
    /// The environment's `cluster_uid`.
    expected: Option<String>,
    /// Observed equals expected (null: nothing to compare).
    matches: Option<bool>,
    detail: String,
    /// The environment's entry with the observed UID, to paste into `stacks/contract.json`.
    contract_line: Option<String>,
}

#[derive(Debug, Serialize)]
struct CacheCheck {
    reachable: bool,
    detail: String,
}

#[derive(Debug, Serialize)]
struct Doctor {
    ok: bool,
    env: String,
    kube_context: ContextStatus,
    cluster: ClusterCheck,
    s3: S3Check,
    tofu: tofu::Report,
    tf_http: Vec<String>,
    cache: CacheCheck,
    problems: Vec<String>,
}

/// `gf doctor`: exit 0 when state, tofu and context are ready; 1 otherwise (the cache is reported
/// only).
pub async fn run<W: World>(s: &Session<W>, json: bool) -> Result<u8, DoctorError> {
    let (c, env) = (&s.contract, s.env.as_str());
    let lookup = s.vars.lookup();
    let context = ContextStatus::of(&s.environment, &s.vars);
    let region = lookup(backend::ENV_REGION).unwrap_or_else(|| c.backend.region.clone());
    let location = S3Location::from_lookup(&lookup, &c.backend.region);

    let s3 = match S3Settings::from_lookup(&lookup, &c.backend.region) {
        Ok(settings) => {
            let store = s.world.store(&settings);
            let (reachable, detail) = match Box::pin(store.head_bucket()).await {
                Ok(()) => {
                    (true, format!("bucket `{}` answers at `{}`", settings.location.bucket, settings.location.endpoint))
                }
                Err(e) => (false, e.to_string()),
            };
            S3Check {
                endpoint: Some(settings.location.endpoint.clone()),
                bucket: Some(settings.location.bucket.clone()),
                region,
                missing: Vec::new(),
                reachable: Some(reachable),
                detail,
            }
        }
        Err(crate::s3state::S3StateError::Missing(missing)) => S3Check {
            endpoint: location.as_ref().ok().map(|l| l.endpoint.clone()),
            bucket: location.as_ref().ok().map(|l| l.bucket.clone()),
            region,
            detail: format!(
                "not checked: {} not set",
                missing.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            ),
            missing,
            reachable: None,
        },
        Err(e) => S3Check {
            endpoint: None,
            bucket: None,
            region,
            missing: Vec::new(),
            reachable: None,
            detail: match e {
                crate::s3state::S3StateError::Backend(BackendError::ControlChar { var }) => {
                    format!("`{var}` contains a control character")
                }
                other => other.to_string(),
            },
        },
    };
    let tofu = tofu::report(&lookup).await;
    let tf_http = s.vars.names_with_prefix("TF_HTTP_");
    let cache = match crate::cache::reachability(&s.world, c, &s.vars).await {
        Ok(detail) => CacheCheck { reachable: true, detail },
        Err(detail) => CacheCheck { reachable: false, detail },
    };

    let cluster = cluster_check(s).await;

    let mut problems = Vec::new();
    if !context.matches {
        problems.push(context.problem(env));
    }
    if cluster.expected.is_some() && cluster.matches != Some(true) {
        problems.push(format!("cluster: {}", cluster.detail));
    }
    if s3.reachable != Some(true) {
        problems.push(format!("S3 state backend: {}", s3.detail));
    }
    if !tofu.ok() {
        problems.push(format!("tofu: {}", tofu.status));
    }
    let report = Doctor {
        ok: problems.is_empty(),
        env: env.to_string(),
        kube_context: context,
        cluster,
        s3,
        tofu,
        tf_http,
        cache,
        problems,
    };
    if json {
        ui::print_json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(if report.ok { exit::OK } else { exit::ERROR })
}

/// The cluster behind the environment's context, compared with its `cluster_uid`.
async fn cluster_check<W: World>(s: &Session<W>) -> ClusterCheck {
    let (env, ctx) = (s.env.as_str(), s.environment.kube_context.as_str());
    let expected = s.environment.cluster_uid.clone();
    let observed = context::observe_uid(&s.world, &s.kubeconfig, ctx).await;
    let uid = observed.as_ref().ok().cloned();
    let (matches, detail) = match (&expected, &observed) {
        (Some(want), _) => match context::judge(observed.clone(), want, env, ctx) {
            Ok(d) => (Some(true), d),
            Err(d) => (Some(false), d),
        },
        (None, Ok(uid)) => (
            None,
            format!(
                "context `{ctx}` reaches the cluster whose `{}` UID is `{uid}`; environment `{env}` does not record it (`cluster_uid`)",
                context::IDENTITY_NAMESPACE
            ),
        ),
        (None, Err(why)) => {
            (None, format!("cannot read `{}` through context `{ctx}`: {why}", context::IDENTITY_NAMESPACE))
        }
    };
    let contract_line = match (&expected, &uid) {
        (None, Some(uid)) => Some(format!("\"{env}\": {{ \"kube_context\": \"{ctx}\", \"cluster_uid\": \"{uid}\" }}")),
        _ => None,
    };
    ClusterCheck {
        context: ctx.to_string(),
        kubeconfig: s.kubeconfig.iter().map(|p| p.display().to_string()).collect(),
        uid,
        expected,
        matches,
        detail,
        contract_line,
    }
}

fn mark(ok: bool) -> &'static str {
    if ok { "ok" } else { "PROBLEM" }
}

fn print_human(r: &Doctor) {
    let mut rows = vec![
        vec!["env".into(), "ok".into(), format!("`{}`", r.env)],
        vec![
            "kube context".into(),
            mark(r.kube_context.matches).into(),
            if r.kube_context.matches {
                format!("`KUBE_CONTEXT` is `{}`", r.kube_context.expected)
            } else {
                r.kube_context.actual.as_deref().map_or_else(
                    || format!("`KUBE_CONTEXT` not set; needs `{}`", r.kube_context.expected),
                    |a| format!("`KUBE_CONTEXT` is `{a}`; needs `{}`", r.kube_context.expected),
                )
            },
        ],
        vec![
            "cluster".into(),
            match r.cluster.matches {
                Some(m) => mark(m),
                None if r.cluster.uid.is_some() => "ok",
                None => "warning",
            }
            .into(),
            r.cluster.detail.clone(),
        ],
        vec!["s3".into(), mark(r.s3.reachable == Some(true)).into(), r.s3.detail.clone()],
        vec![
            "tofu".into(),
            if r.tofu.ok() && r.tofu.warning.is_some() { "warning" } else { mark(r.tofu.ok()) }.into(),
            match (&r.tofu.path, &r.tofu.version) {
                (Some(p), Some(v)) if r.tofu.status == "ok" => match &r.tofu.warning {
                    Some(w) => format!("{p} {v}: {w}"),
                    None => format!("{p} {v}"),
                },
                (Some(p), Some(v)) => format!("{p} {v} ({})", r.tofu.status),
                (Some(p), None) => format!("{p}: {}", r.tofu.status),
                _ => r.tofu.status.clone(),
            },
        ],
        vec![
            "attic cache".into(),
            if r.cache.reachable { "ok".into() } else { "warning".into() },
            r.cache.detail.clone(),
        ],
    ];
    if !r.tf_http.is_empty() {
        rows.push(vec![
            "TF_HTTP_*".into(),
            "warning".into(),
            format!("{} set: compatibility-only, never passed to tofu", r.tf_http.join(", ")),
        ]);
    }
    ui::out_raw(&ui::table(&["check", "status", "detail"], &rows));
    if let Some(line) = &r.cluster.contract_line {
        crate::outln!("record the cluster's identity in `stacks/contract.json` (`environments`):\n  {line}");
    }
    if !r.ok {
        crate::outln!("{} problem{}", r.problems.len(), if r.problems.len() == 1 { "" } else { "s" });
    }
}
