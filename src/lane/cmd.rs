//! `gf lane status|drain|restore`.

use std::time::Duration;

use serde_json::json;

use super::guard::guarded_drain;
use super::{Cluster, LaneError, LaneOptions, arc, drain, lane_stack};
use crate::context::ContextStatus;
use crate::contract::Lane;
use crate::exit;
use crate::session::{Session, World};
use crate::ui;

/// Which lane command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `gf lane status`.
    Status,
    /// `gf lane drain`.
    Drain,
    /// `gf lane restore`.
    Restore,
}

impl Verb {
    fn name(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Drain => "drain",
            Self::Restore => "restore",
        }
    }
}

/// Options of `gf lane …`.
#[derive(Debug, Clone)]
pub struct LaneArgs {
    /// The lane stack (default: the only stack with a lane).
    pub stack: Option<String>,
    /// How long `drain` waits for busy jobs.
    pub timeout: Duration,
    /// One JSON document.
    pub json: bool,
}

/// `gf lane status|drain|restore`.
pub async fn run<W: World>(s: &Session<W>, verb: Verb, args: &LaneArgs) -> Result<u8, LaneError> {
    let env = &s.env;
    let (stack, lane) = lane_stack(&s.contract, args.stack.as_deref())?;
    let status = ContextStatus::of(&s.environment, &s.vars);
    let context = if verb == Verb::Status {
        // Read-only: report a mismatch, then read whichever context was asked for.
        status.report(env, "gf lane status");
        status.actual.clone().unwrap_or_else(|| {
            ui::note(&format!(
                "`KUBE_CONTEXT` is not set; reading context `{}` of environment `{env}`",
                status.expected
            ));
            status.expected.clone()
        })
    } else {
        status.require(env, &format!("gf lane {}", verb.name()))?.to_string()
    };
    let cluster = s.world.cluster(&s.kubeconfig, &context).await?;
    if verb != Verb::Status {
        // Nothing is written to a cluster that is not the environment's.
        crate::context::verify_identity(&cluster, &s.environment, env, &context).await?;
    }
    let opts = LaneOptions::of(&s.vars, ui::stderr_is_tty() && !args.json);
    let head = json!({
        "stack": stack.name, "lane": lane.name, "env": env, "context": context,
        "context_matches": context == status.expected, "namespace": lane.drain.namespace,
    });
    match verb {
        Verb::Status => status_cmd(&cluster, lane, args, head).await,
        Verb::Drain => drain_cmd(&cluster, lane, &opts, args, head).await,
        Verb::Restore => restore_cmd(&cluster, lane, args, head).await,
    }
}

fn with_sets(mut head: serde_json::Value, key: &str, v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = head.as_object_mut() {
        o.insert(key.to_string(), v);
    }
    head
}

async fn status_cmd<C: Cluster>(c: &C, lane: &Lane, args: &LaneArgs, head: serde_json::Value) -> Result<u8, LaneError> {
    let sets = drain::status(c, lane).await?;
    if args.json {
        ui::print_json(&with_sets(head, "sets", serde_json::to_value(&sets)?))?;
        return Ok(exit::OK);
    }
    let rows: Vec<Vec<String>> = sets
        .iter()
        .map(|s| {
            if !s.found {
                return vec![s.name.clone(), "-".into(), "-".into(), "-".into(), "-".into(), "not found".into()];
            }
            let drained = match (&s.drained, &s.annotation_error) {
                (Some(d), _) => format!("since {} by {} (from {})", d.time, d.who, arc::caps(d.min, d.max)),
                (None, Some(_)) => "unreadable annotation".into(),
                (None, None) => "no".into(),
            };
            vec![
                s.name.clone(),
                s.min.map_or_else(|| "unset".into(), |m| m.to_string()),
                s.max.map_or_else(|| "unlimited".into(), |m| m.to_string()),
                s.runners.to_string(),
                s.busy.to_string(),
                drained,
            ]
        })
        .collect();
    crate::outln!("lane `{}`: shared scale sets in `{}`", lane.name, lane.drain.namespace);
    ui::out_raw(&ui::table(&["set", "min", "max", "runners", "busy", "drained"], &rows));
    Ok(exit::OK)
}

async fn drain_cmd<C: Cluster>(
    c: &C,
    lane: &Lane,
    opts: &LaneOptions,
    args: &LaneArgs,
    head: serde_json::Value,
) -> Result<u8, LaneError> {
    let (sets, waited) = guarded_drain(c, lane, opts, args.timeout).await?;
    if args.json {
        let doc = with_sets(head, "sets", serde_json::to_value(&sets)?);
        ui::print_json(&with_sets(doc, "waited_seconds", json!(waited.as_secs_f64())))?;
    } else {
        let drained = sets.iter().filter(|s| s.action != "missing").count();
        crate::outln!(
            "lane `{}` drained: no job runs on its {drained} shared set{} (waited {}); `gf lane restore` puts the caps back",
            lane.name,
            if drained == 1 { "" } else { "s" },
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        );
    }
    Ok(exit::OK)
}

async fn restore_cmd<C: Cluster>(
    c: &C,
    lane: &Lane,
    args: &LaneArgs,
    head: serde_json::Value,
) -> Result<u8, LaneError> {
    let sets = drain::restore(c, lane).await?;
    if args.json {
        ui::print_json(&with_sets(head, "sets", serde_json::to_value(&sets)?))?;
        return Ok(exit::OK);
    }
    for s in &sets {
        let caps = arc::caps(s.min, s.max);
        match s.action {
            "restored" => crate::outln!("restored `{}` to {caps}", s.name),
            "kept" => crate::outln!("kept `{}` at {caps} (changed since the drain)", s.name),
            "missing" => crate::outln!("`{}` does not exist", s.name),
            _ => crate::outln!("`{}` was not drained ({caps})", s.name),
        }
    }
    Ok(exit::OK)
}
