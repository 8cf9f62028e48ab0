//! `gf status [STACK…|--all] [--json]`: what gf knows about each stack without running tofu — the
//! managed state in S3 (exists, serial, lineage, last modified) and its lock, the saved plan (age,
//! and whether `apply` would refuse it as stale), an `errored.tfstate` waiting, the local lock's
//! holder, the lane's drained sets (from the cluster) and the cache settings.
//!
//! Every stack's S3 reads (state and lock) and every lane read run concurrently. It only reads:
//! nothing is adopted, locked or written, and `tofu` runs at most once, for `version -json` when
//! a saved plan must be judged and the version is not cached (as `apply` judges it).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::backend::Backend;
use crate::contract::{ApplyMode, ContractError, Lane, Stack};
use crate::lane::drain::{self, SetStatus};
use crate::lifecycle::argv::rel;
use crate::lifecycle::drift::CLUSTER_TIMEOUT;
use crate::lifecycle::eval::{check_plan, version_cache};
use crate::lifecycle::render::Changes;
use crate::lifecycle::work::{self, ERRORED_STATE, PlanMeta, Work};
use crate::s3state::{self, LockInfo, S3Settings, S3StateError, StateFacts};
use crate::session::{Session, World};
use crate::tofu::{self, Tofu};
use crate::{cache, exit, ui};

/// Errors of `gf status` (after its report is printed).
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// Some stacks' state could not be read from S3.
    #[error("could not read the managed state of {}", .stacks.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))]
    Unreadable {
        /// Those stacks.
        stacks: Vec<String>,
    },
    /// A stack or its state key is not in the contract.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The S3 settings.
    #[error(transparent)]
    Store(#[from] S3StateError),
    /// The JSON document.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl exit::Refusal for StatusError {
    fn refusal(&self) -> Option<&exit::Refused> {
        None
    }
}

/// Options of `gf status`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Stacks asked for by name.
    pub stacks: Vec<String>,
    /// `--all`.
    pub all: bool,
    /// `--json`.
    pub json: bool,
}

/// The managed state's facts.
#[derive(Debug, Clone, Serialize)]
pub struct Managed {
    /// Whether the state object exists.
    pub exists: bool,
    /// Its serial.
    pub serial: Option<u64>,
    /// Its lineage.
    pub lineage: Option<String>,
    /// Last modified (RFC 3339).
    pub last_modified: Option<String>,
    /// Its ETag.
    pub etag: Option<String>,
    /// Resource instances in it.
    pub instances: Option<usize>,
}

/// The saved plan, judged as `apply` would judge it.
#[derive(Debug, Clone, Serialize)]
pub struct SavedPlan {
    /// When it was made (RFC 3339).
    pub created: Option<String>,
    /// How old it is, in seconds.
    pub age_seconds: Option<u64>,
    /// A destroy plan.
    pub destroy: bool,
    /// Its resource changes.
    pub changes: Option<Changes>,
    /// Whether `apply` would refuse it (`stale-plan`); null when it cannot be told.
    pub stale: Option<bool>,
    /// Why it is stale, or what could not be checked.
    pub why: Option<String>,
}

/// The lane's drained sets.
#[derive(Debug, Clone, Serialize)]
pub struct LaneStatus {
    /// The lane.
    pub name: String,
    /// Its drain namespace.
    pub namespace: String,
    /// The kube context read.
    pub context: String,
    /// The drain list's sets (null when the cluster could not be read).
    pub sets: Option<Vec<SetStatus>>,
    /// Why the cluster could not be read (reported, never fatal).
    pub error: Option<String>,
}

/// What one stack asks of the cache.
#[derive(Debug, Clone, Serialize)]
pub struct CacheNeed {
    /// `requires_cache`.
    pub requires_cache: bool,
    /// How many `cache_paths` it lists.
    pub cache_paths: usize,
}

/// One stack's status.
#[derive(Debug, Clone, Serialize)]
pub struct StackStatus {
    /// The stack.
    pub name: String,
    /// `automated` or `operator`.
    pub apply: ApplyMode,
    /// The S3 object.
    pub state_key: String,
    /// The managed state (null when it could not be read).
    pub managed: Option<Managed>,
    /// Why the state could not be read.
    pub managed_error: Option<String>,
    /// The S3 state lock's holder.
    pub lock: Option<LockInfo>,
    /// The saved plan (null: none).
    pub plan: Option<SavedPlan>,
    /// An `errored.tfstate` waiting to be pushed (its path).
    pub errored_state: Option<String>,
    /// The holder of the local lock on `.gf/<env>/<stack>/`.
    pub local_lock: Option<String>,
    /// The lane (null: the stack has none).
    pub lane: Option<LaneStatus>,
    /// The cache it needs.
    pub cache: CacheNeed,
}

/// The cache settings plan/apply of a `requires_cache` stack would use.
#[derive(Debug, Clone, Serialize)]
pub struct CacheSettings {
    /// Endpoint.
    pub endpoint: Option<String>,
    /// Cache name.
    pub cache: Option<String>,
    /// Trusted key names.
    pub trusted_keys: Vec<String>,
    /// Whether `GF_ATTIC_TOKEN` is set (never its value).
    pub token: bool,
    /// Why the settings do not resolve.
    pub error: Option<String>,
}

/// `gf status`: exit 0, or 1 (after the report) when a state could not be read.
pub async fn run<W: World>(s: &Session<W>, o: &Options) -> Result<u8, StatusError> {
    let stacks = s.contract.select(&o.stacks, o.all)?;
    for st in &stacks {
        st.state_key(&s.env)?;
    }
    crate::context::ContextStatus::of(&s.environment, &s.vars).report(&s.env, "gf status");
    let settings = S3Settings::from_lookup(s.vars.lookup(), &s.contract.backend.region)?;
    let tofu = if stacks.iter().any(|st| Work::new(s.root(), &s.env, &st.name).plan_meta().is_file()) {
        Some(probe_tofu(s).await)
    } else {
        None
    };
    let store = s.world.store(&settings);
    let all = stacks.iter().map(|st| stack_status(s, st, &store, &settings, tofu.as_ref()));
    let reports = futures::future::join_all(all).await;
    let cache = cache_settings(s);
    if o.json {
        ui::print_json(&serde_json::json!({ "command": "status", "env": s.env, "stacks": reports, "cache": cache }))?;
    } else {
        print_human(s, &reports, &cache);
    }
    let stacks: Vec<String> = reports.iter().filter(|r| r.managed.is_none()).map(|r| r.name.clone()).collect();
    if stacks.is_empty() { Ok(exit::OK) } else { Err(StatusError::Unreadable { stacks }) }
}

/// The tofu version a saved plan is judged against (what `apply` would run), or why not.
async fn probe_tofu<W: World>(s: &Session<W>) -> Result<Tofu, String> {
    let loc = tofu::locate(s.vars.lookup()).map_err(|e| e.to_string())?;
    Tofu::probe_cached(loc, &version_cache(s.root())).await.map_err(|e| e.to_string())
}

async fn stack_status<W: World>(
    s: &Session<W>,
    st: &Stack,
    store: &W::Store,
    settings: &S3Settings,
    tofu: Option<&Result<Tofu, String>>,
) -> StackStatus {
    let key = st.state_key(&s.env).unwrap_or_default();
    let lane = async {
        match &st.lane {
            Some(l) => Some(lane_status(s, l).await),
            None => None,
        }
    };
    let (facts, lane) = futures::join!(Box::pin(s3state::facts(store, key)), lane);
    let work = Work::new(s.root(), &s.env, &st.name);
    let (managed, managed_error, lock) = match &facts {
        Ok(f) => (Some(managed(f)), None, f.lock.clone()),
        Err(e) => (None, Some(e.to_string()), None),
    };
    let plan = saved_plan(s, st, &work, facts.as_ref().ok(), settings, tofu);
    let errored_state =
        [work.errored_state(), st.dir.join(ERRORED_STATE)].into_iter().find(|p| p.is_file()).map(|p| rel(s.root(), &p));
    StackStatus {
        name: st.name.clone(),
        apply: st.apply,
        state_key: key.to_string(),
        managed,
        managed_error,
        lock,
        plan,
        errored_state,
        local_lock: work.lock_holder(),
        lane,
        cache: CacheNeed { requires_cache: st.requires_cache, cache_paths: st.cache_paths.len() },
    }
}

fn managed(f: &StateFacts) -> Managed {
    Managed {
        exists: f.exists,
        serial: f.serial,
        lineage: f.lineage.clone(),
        last_modified: f.last_modified.clone(),
        etag: f.etag.clone(),
        instances: f.instances,
    }
}

/// The saved plan, if any, with the verdict of `apply`'s `stale-plan` gate (`check_plan`).
fn saved_plan<W: World>(
    s: &Session<W>,
    st: &Stack,
    work: &Work,
    facts: Option<&StateFacts>,
    settings: &S3Settings,
    tofu: Option<&Result<Tofu, String>>,
) -> Option<SavedPlan> {
    let meta = match work::read_json::<PlanMeta>(&work.plan_meta()) {
        Ok(None) => return None,
        Ok(Some(m)) => m,
        Err(e) => {
            return Some(SavedPlan {
                created: None,
                age_seconds: None,
                destroy: false,
                changes: None,
                stale: Some(true),
                why: Some(e.to_string()),
            });
        }
    };
    let mut p = SavedPlan {
        age_seconds: age(&meta.created),
        created: Some(meta.created.clone()),
        destroy: meta.destroy,
        changes: meta.changes,
        stale: None,
        why: None,
    };
    if !work.plan_file().is_file() {
        (p.stale, p.why) = (Some(true), Some(format!("`{}` is missing", rel(s.root(), &work.plan_file()))));
        return Some(p);
    }
    let Some(facts) = facts else {
        p.why = Some("not judged: the state could not be read".into());
        return Some(p);
    };
    let backend = match Backend::new(st, &s.env, settings.location.clone()) {
        Ok(b) => b,
        Err(e) => {
            p.why = Some(format!("not judged: {e}"));
            return Some(p);
        }
    };
    // Without a tofu binary, everything but the tofu version is judged, and the answer says so.
    let (tofu, unknown) = match tofu {
        Some(Ok(t)) => (t.clone(), None),
        Some(Err(e)) => (
            Tofu { path: meta.tofu_path.clone(), source: tofu::Source::GfTofu, version: meta.tofu_version.clone() },
            Some(e.clone()),
        ),
        None => return Some(p),
    };
    match (check_plan(&meta, facts, &backend, &s.env, &tofu, work, &st.dir), unknown) {
        (Err(why), _) => (p.stale, p.why) = (Some(true), Some(why)),
        (Ok(()), None) => p.stale = Some(false),
        (Ok(()), Some(e)) => {
            p.why = Some(format!("matches the state, backend and plan bytes; tofu version not checked: {e}"));
        }
    }
    Some(p)
}

fn age(created: &str) -> Option<u64> {
    let t = humantime::parse_rfc3339(created).ok()?;
    Some(SystemTime::now().duration_since(t).unwrap_or_default().as_secs())
}

/// The lane's drained sets, read through `KUBE_CONTEXT` (else the environment's context), like
/// `gf lane status`; an unreachable cluster is reported, not fatal.
async fn lane_status<W: World>(s: &Session<W>, lane: &Lane) -> LaneStatus {
    let context = s.vars.get(crate::context::VAR).unwrap_or_else(|| s.environment.kube_context.clone());
    let read = async {
        let cluster = s.world.cluster(&s.kubeconfig, &context).await.map_err(|e| ui::error_chain(&e))?;
        drain::status(&cluster, lane).await.map_err(|e| ui::error_chain(&e))
    };
    let (sets, error) = match tokio::time::timeout(CLUSTER_TIMEOUT, read).await {
        Ok(Ok(sets)) => (Some(sets), None),
        Ok(Err(e)) => (None, Some(e)),
        Err(_) => (None, Some(format!("no answer within {}s", CLUSTER_TIMEOUT.as_secs()))),
    };
    LaneStatus { name: lane.name.clone(), namespace: lane.drain.namespace.clone(), context, sets, error }
}

fn cache_settings<W: World>(s: &Session<W>) -> CacheSettings {
    match cache::Settings::resolve(&cache::Overrides::default(), &s.vars, s.contract.attic.as_ref()) {
        Ok(c) => CacheSettings {
            endpoint: Some(c.endpoint.to_string()),
            cache: Some(c.cache.clone()),
            trusted_keys: c.trusted.key_names().into_iter().map(str::to_string).collect(),
            token: c.token.is_some(),
            error: None,
        },
        Err(e) => CacheSettings {
            endpoint: None,
            cache: None,
            trusted_keys: Vec::new(),
            token: false,
            error: Some(e.to_string()),
        },
    }
}

fn short_age(secs: u64) -> String {
    let d = Duration::from_secs(secs);
    match secs {
        0..60 => format!("{secs}s old"),
        60..3600 => format!("{}m old", d.as_secs() / 60),
        3600..86_400 => format!("{}h old", d.as_secs() / 3600),
        _ => format!("{}d old", d.as_secs() / 86_400),
    }
}

fn cells(r: &StackStatus) -> Vec<String> {
    let dash = || "-".to_string();
    let state = match &r.managed {
        None => "unreadable".into(),
        Some(m) if !m.exists => "no state".into(),
        Some(m) => format!(
            "serial {}{}",
            m.serial.unwrap_or(0),
            m.last_modified.as_deref().map(|t| format!(", {t}")).unwrap_or_default()
        ),
    };
    let lock =
        r.lock.as_ref().map_or_else(dash, |l| format!("held ({})", l.operation.trim_start_matches("OperationType")));
    let plan = r.plan.as_ref().map_or_else(dash, |p| {
        let age = p.age_seconds.map_or_else(|| "saved".into(), short_age);
        let verdict = match p.stale {
            Some(true) => "STALE",
            Some(false) => "current",
            None => "not judged",
        };
        format!("{age}, {verdict}{}", if p.destroy { ", destroy" } else { "" })
    });
    let lane = r.lane.as_ref().map_or_else(dash, |l| match &l.sets {
        None => "unreachable".into(),
        Some(sets) => {
            let drained = sets.iter().filter(|x| x.drained.is_some()).count();
            if drained == 0 { "not drained".into() } else { format!("{drained} of {} drained", sets.len()) }
        }
    });
    let cache = if r.cache.requires_cache { format!("required ({} paths)", r.cache.cache_paths) } else { dash() };
    vec![
        r.name.clone(),
        state,
        lock,
        plan,
        if r.errored_state.is_some() { "WAITING".into() } else { dash() },
        if r.local_lock.is_some() { "held".into() } else { dash() },
        lane,
        cache,
    ]
}

/// Detail lines for what needs attention, each saying what to do.
fn details(r: &StackStatus) -> Vec<String> {
    let n = &r.name;
    let mut out = Vec::new();
    if let Some(e) = &r.managed_error {
        out.push(format!("{n}: {e}"));
    }
    if let Some(l) = &r.lock {
        // A run of this checkout holding its local lock is most likely the lock's owner: never
        // point at unlock for a live run (that loses its lock and, at worst, its update).
        let what = if r.local_lock.is_some() {
            "a gf run in this checkout is going: wait for it, never unlock a live run's lock".to_string()
        } else {
            format!("if `{}` runs no tofu on this stack any more, it was left by a crash: `gf state unlock {n}`", l.who)
        };
        out.push(format!(
            "{n}: S3 state lock held by {} ({}) since {}, id {}; {what}",
            l.who, l.operation, l.since, l.id
        ));
    }
    if let Some(p) = &r.plan {
        match (p.stale, &p.why) {
            (Some(true), Some(why)) => {
                out.push(format!("{n}: saved plan is stale ({why}): `gf apply` refuses it; run `gf plan {n}`"));
            }
            (None, Some(why)) => out.push(format!("{n}: saved plan {why}")),
            _ => {}
        }
    }
    if let Some(e) = &r.errored_state {
        out.push(format!(
            "{n}: `{e}` holds state a failed apply could not save: `gf state push-errored {n}` (plan and apply are refused until then)"
        ));
    }
    if let Some(h) = &r.local_lock {
        out.push(format!("{n}: a gf run in this checkout holds it ({h})"));
    }
    if let Some(l) = &r.lane {
        if let Some(e) = &l.error {
            out.push(format!("{n}: lane `{}`: cluster not readable through context `{}`: {e}", l.name, l.context));
        }
        for set in l.sets.iter().flatten() {
            if let Some(d) = &set.drained {
                out.push(format!(
                    "{n}: lane `{}`: `{}` drained since {} by {} (from {}; `gf lane restore` puts it back)",
                    l.name,
                    set.name,
                    d.time,
                    d.who,
                    crate::lane::arc::caps(d.min, d.max)
                ));
            } else if !set.found {
                out.push(format!("{n}: lane `{}`: scale set `{}` not found in `{}`", l.name, set.name, l.namespace));
            }
        }
    }
    out
}

fn print_human<W: World>(s: &Session<W>, reports: &[StackStatus], cache: &CacheSettings) {
    let rows: Vec<Vec<String>> = reports.iter().map(cells).collect();
    let header = ["stack", "state", "s3 lock", "saved plan", "errored", "local lock", "lane", "cache"];
    crate::outln!("environment `{}`", s.env);
    ui::out_raw(&ui::table(&header, &rows));
    for r in reports {
        for line in details(r) {
            crate::outln!("{line}");
        }
    }
    if reports.iter().any(|r| r.cache.requires_cache) {
        match (&cache.error, &cache.endpoint, &cache.cache) {
            (Some(e), _, _) => crate::outln!("cache: {e}"),
            (None, Some(endpoint), Some(name)) => crate::outln!(
                "cache: `{name}` at `{endpoint}`; trusted: {}; token {}",
                if cache.trusted_keys.is_empty() {
                    "none".to_string()
                } else {
                    cache.trusted_keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                },
                if cache.token { "set" } else { "not set" }
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
