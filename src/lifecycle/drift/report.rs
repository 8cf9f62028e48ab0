//! `gf drift`'s answer for people: one block per stack.

use super::{Diff, DriftStatus, StackDrift};

/// Print one stack's answer: its outcome, then each address that differs and each operator action.
pub(super) fn print_stack(r: &StackDrift) {
    let name = &r.name;
    match r.status {
        DriftStatus::NotRun => crate::outln!("{name}: not run"),
        DriftStatus::InSync => crate::outln!(
            "{name}: in sync: desired = managed = observed{}",
            r.state.as_ref().and_then(|s| s.serial).map(|s| format!(" (state serial {s})")).unwrap_or_default()
        ),
        DriftStatus::OperatorAction => crate::outln!(
            "{name}: no pending change, no drift; {} scale set{} drained by gf (bounded, expected to be restored)",
            r.operator_actions.len(),
            plural(r.operator_actions.len())
        ),
        DriftStatus::Differs => {
            let count = |d: &Option<Diff>| d.as_ref().map_or(0, |d| d.addresses.len());
            let mut parts = vec![format!("{} pending", count(&r.pending)), format!("{} drifted", count(&r.drift))];
            if !r.operator_actions.is_empty() {
                parts.push(format!("{} operator action{}", r.operator_actions.len(), plural(r.operator_actions.len())));
            }
            crate::outln!("{name}: differs: {}", parts.join(", "));
        }
        DriftStatus::Failed | DriftStatus::Refused | DriftStatus::Interrupted => {
            let what = match (r.status, r.gate) {
                (DriftStatus::Refused, Some(g)) => format!("refused ({g})"),
                (DriftStatus::Interrupted, _) => "interrupted".into(),
                _ => "failed".into(),
            };
            // A refusal's own text already starts with `refused (<gate>): `.
            let error = r.error.as_deref().unwrap_or("");
            let error = error.strip_prefix(&format!("{what}: ")).unwrap_or(error);
            crate::outln!("{name}: {what}: {error}");
        }
    }
    for (label, diff) in [("pending", &r.pending), ("drift", &r.drift)] {
        let Some(d) = diff else { continue };
        for a in &d.addresses {
            let why = r
                .scale_sets
                .iter()
                .flatten()
                .find(|s| a.ends_with(&format!("/{}", s.name)) && a.starts_with("AutoscalingRunnerSet/"))
                .and_then(|s| s.reason.as_deref())
                .map(|w| format!(" ({w})"))
                .unwrap_or_default();
            crate::outln!("  {label:<8} {a}{why}");
        }
        if let Some(n) = &d.note {
            crate::outln!("  {label:<8} ({n})");
        }
    }
    for a in &r.operator_actions {
        crate::outln!(
            "  {:<8} AutoscalingRunnerSet/{}/{} drained since {} by {}: {} now, {} desired, {} to restore (`gf lane restore`)",
            "operator",
            a.namespace,
            a.set,
            a.since,
            a.who,
            crate::lane::arc::caps(a.observed.min, a.observed.max),
            crate::lane::arc::caps(a.desired.min, a.desired.max),
            crate::lane::arc::caps(a.recorded.min, a.recorded.max)
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
