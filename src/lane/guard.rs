//! The drain guard around an apply: drain, wait, run the apply, restore — also when the apply
//! fails, panics or a signal arrives.

use std::future::Future;
use std::time::Duration;

use super::{Cluster, LaneError, LaneOptions, arc, drain};
use crate::context::ContextStatus;
use crate::contract::{Lane, Stack};
use crate::exit::Refused;
use crate::session::{Session, World};
use crate::{signals, ui};

/// Self-hosting check, drain and wait; on a failure, timeout or Ctrl-C after the first write,
/// restore before returning the error.
pub(super) async fn guarded_drain<C: Cluster>(
    c: &C,
    lane: &Lane,
    opts: &LaneOptions,
    timeout: Duration,
) -> Result<(Vec<drain::SetDrain>, Duration), LaneError> {
    // Nothing is written before this check passes: a refusal needs no restore.
    tokio::select! {
        r = drain::check_self_hosting(c, lane, opts) => r?,
        _ = signals::any() => {
            return Err(Refused::new("lane", "interrupted before the drain; nothing was changed").into());
        }
    }
    let wrote = std::sync::atomic::AtomicBool::new(false);
    let drained = tokio::select! {
        r = async {
            let sets = drain::drain_caps(c, lane, opts, &wrote).await?;
            let present: Vec<String> =
                sets.iter().filter(|s| s.action != "missing").map(|s| s.name.clone()).collect();
            let waited = drain::wait_idle(c, lane, &present, opts, timeout).await?;
            Ok::<_, Option<LaneError>>((sets, waited))
        } => r,
        _ = signals::any() => Err(None),
    };
    let err = match drained {
        Ok(ok) => return Ok(ok),
        Err(e) => e,
    };
    let wrote_any = wrote.load(std::sync::atomic::Ordering::SeqCst);
    if let (Some(LaneError::Refused(r)), false) = (&err, wrote_any) {
        // Refused before the first write (a set that does not exist): nothing to put back.
        return Err(LaneError::Refused(r.clone()));
    }
    let restored = if wrote_any {
        match drain::restore(c, lane).await {
            Ok(_) => "the recorded caps were put back".to_string(),
            Err(r) => format!("restoring failed too ({}): run `gf lane restore`", ui::error_chain(&r)),
        }
    } else {
        // Nothing was sent: the sets are as they were (an earlier drain's annotation included).
        "nothing was changed".to_string()
    };
    Err(match err {
        None => Refused::new("lane", format!("interrupted while draining lane `{}`; {restored}", lane.name)).into(),
        Some(e @ LaneError::Timeout { .. }) => {
            Refused::new("lane", format!("drain of lane `{}` timed out: {e}; {restored}", lane.name)).into()
        }
        Some(e) => LaneError::DrainFailed { lane: lane.name.clone(), restored, source: Box::new(e) },
    })
}

/// Drain the stack's lane, run `apply`, and restore — also when `apply` fails or on a signal.
/// Nothing is drained when the cluster is not the environment's `cluster_uid`.
/// Returns `apply`'s result (or the drain/restore error, as `apply`'s error type). A stack without
/// a lane just runs `apply`.
/// `first_install`: the plan being applied was made against an absent state (its metadata's
/// `state.exists` is false), so drain sets that do not exist yet are skipped, not refused.
pub async fn with_drained<W: World, T, E, Fut>(
    s: &Session<W>,
    stack: &Stack,
    timeout: Duration,
    first_install: bool,
    apply: Fut,
) -> Result<T, E>
where
    E: From<LaneError>,
    Fut: Future<Output = Result<T, E>>,
{
    let Some(lane) = &stack.lane else { return apply.await };
    let status = ContextStatus::of(&s.environment, &s.vars);
    let context = status.require(&s.env, &format!("gf apply {}", stack.name)).map_err(LaneError::from)?;
    let cluster = s.world.cluster(&s.kubeconfig, context).await.map_err(LaneError::from)?;
    crate::context::verify_identity(&cluster, &s.environment, &s.env, context).await.map_err(LaneError::from)?;
    let opts = LaneOptions { allow_missing: first_install, ..LaneOptions::of(&s.vars, ui::stderr_is_tty()) };
    with_drained_on(&cluster, lane, &opts, timeout, apply).await
}

/// [`with_drained`] on a given cluster (the tests' entry point). The returned future must be
/// awaited to the end: dropping it half-way skips the restore (`gf lane restore` recovers).
pub async fn with_drained_on<C, T, E, Fut>(
    cluster: &C,
    lane: &Lane,
    opts: &LaneOptions,
    timeout: Duration,
    apply: Fut,
) -> Result<T, E>
where
    C: Cluster,
    E: From<LaneError>,
    Fut: Future<Output = Result<T, E>>,
{
    let (_, waited) = guarded_drain(cluster, lane, opts, timeout).await?;
    if !opts.quiet {
        ui::note(&format!(
            "lane `{}` drained (waited {}); applying",
            lane.name,
            humantime::format_duration(Duration::from_secs(waited.as_secs()))
        ));
    }
    // A panicking apply still gets its restore; the panic continues afterwards.
    let result = match futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(apply)).await {
        Ok(r) => r,
        Err(panic) => {
            if let Err(r) = restore_with_retries(cluster, lane).await {
                ui::error(&format!("lane `{}` is still drained: {}", lane.name, ui::error_chain(&r)));
            }
            std::panic::resume_unwind(panic);
        }
    };
    let restored = restore_with_retries(cluster, lane).await;
    if let (Ok(sets), false) = (&restored, opts.quiet) {
        ui::note(&format!("lane `{}` restored: {}", lane.name, restore_summary(sets)));
    }
    match (result, restored) {
        (Ok(v), Ok(_)) => Ok(v),
        (Ok(_), Err(r)) => Err(LaneError::StillDrained { lane: lane.name.clone(), source: Box::new(r) }.into()),
        (Err(e), Ok(_)) => {
            ui::note(&format!("lane `{}` restored after the failed apply", lane.name));
            Err(e)
        }
        (Err(e), Err(r)) => {
            ui::error(&format!("lane `{}` is still drained: {}", lane.name, ui::error_chain(&r)));
            Err(e)
        }
    }
}

fn restore_summary(sets: &[drain::SetRestore]) -> String {
    sets.iter()
        .map(|s| match s.action {
            "kept" => format!("`{}` kept at {}", s.name, arc::caps(s.min, s.max)),
            "restored" => format!("`{}` back to {}", s.name, arc::caps(s.min, s.max)),
            other => format!("`{}` {other}", s.name),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Restore, retrying transient failures a few times (the guard's last line of defence).
async fn restore_with_retries<C: Cluster>(c: &C, lane: &Lane) -> Result<Vec<drain::SetRestore>, LaneError> {
    let mut delay = Duration::from_secs(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match drain::restore(c, lane).await {
            Ok(sets) => return Ok(sets),
            Err(e) if attempt < 3 => {
                ui::warn(&format!("restoring lane `{}` failed ({}); retrying", lane.name, ui::error_chain(&e)));
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e),
        }
    }
}
