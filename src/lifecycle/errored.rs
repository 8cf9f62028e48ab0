//! `gf state push-errored <STACK>`: push the `errored.tfstate` a failed apply left (gf adopted it
//! into `.gf/<env>/<stack>/`) to the stack's state with `tofu state push`, under gf's local lock and
//! tofu's S3 lock, after checking it continues the remote state's lineage.

use serde::{Deserialize, Serialize};

use super::eval::{Mode, RunCx};
use super::out::Out;
use super::work::{self, Work};
use super::{LifecycleError, Op, Options};
use crate::exit::{self, Refused};
use crate::s3state;
use crate::session::{Session, World};
use crate::ui;

#[derive(Deserialize)]
struct StateHead {
    serial: u64,
    lineage: String,
}

/// What was pushed.
#[derive(Debug, Serialize)]
#[expect(clippy::struct_field_names, reason = "`serial_pushed` is the JSON field operators read")]
struct Pushed {
    stack: String,
    env: String,
    object: String,
    /// The lineage the object has now, read back after the push.
    lineage: Option<String>,
    /// The pushed file's lineage (tofu gives the first state of an empty key a lineage of its own).
    file_lineage: String,
    serial_before: Option<u64>,
    serial_pushed: u64,
    serial_after: Option<u64>,
}

/// `gf state push-errored <STACK>`.
pub async fn push<W: World>(
    s: &Session<W>,
    stack: &str,
    lock_wait: std::time::Duration,
    json: bool,
) -> Result<u8, LifecycleError> {
    let stack = s.contract.stack(stack)?;
    let o = Options { op: Op::PushErrored, stacks: vec![stack.name.clone()], lock_wait, jobs: 1, ..Options::default() };
    let selection = [stack];
    let mut rcx = RunCx::new(s, &o, &selection, Mode::Real);
    if let Some(r) = rcx.run_gates().await.iter().find_map(super::gates::Decision::refusal) {
        return Err(r.into());
    }
    let work = Work::new(s.root(), &s.env, &stack.name);
    let _lock = work.lock(&stack.name, &s.env, "gf state push-errored", lock_wait)?;
    work::adopt_errored_state(&stack.dir, &work)?;
    let file = work.errored_state();
    let rel = super::argv::rel(s.root(), &file);
    let bytes = std::fs::read(&file).map_err(|_| {
        Refused::with_code(
            "errored-state",
            format!("no errored state for `{}` in `{}` (`{rel}`): nothing to push", stack.name, s.env),
            exit::ERROR,
        )
    })?;
    let head: StateHead = serde_json::from_slice(&bytes).map_err(|e| {
        Refused::new("errored-state", format!("`{rel}` is not a tofu state ({e}); it was left untouched"))
    })?;
    let Some(settings) = rcx.facts.settings.as_ref() else {
        return Err(LifecycleError::Internal("the credentials gate recorded no settings".into()));
    };
    let key = stack.state_key(&s.env)?;
    let store = s.world.store(settings);
    let before = Box::pin(s3state::facts(&store, key)).await?;
    if let Some(lineage) = before.lineage.as_deref().filter(|l| *l != head.lineage) {
        return Err(Refused::new(
            "errored-state",
            format!(
                "`{rel}` has lineage {} but `s3://{}/{key}` has lineage {lineage}: it is another state; nothing pushed",
                head.lineage, before.bucket
            ),
        )
        .into());
    }
    let mut out = Out::new(&stack.name, false, json, false);
    super::stack::push_state(&rcx, stack, work.clone(), &mut out, &file).await?;
    let after = Box::pin(s3state::facts(&store, key)).await?;
    std::fs::remove_file(&file).map_err(|source| work::WorkError::Io {
        action: "remove",
        path: file.clone(),
        source,
    })?;
    let pushed = Pushed {
        stack: stack.name.clone(),
        env: s.env.clone(),
        object: format!("s3://{}/{key}", before.bucket),
        lineage: after.lineage.clone(),
        file_lineage: head.lineage,
        serial_before: before.serial,
        serial_pushed: head.serial,
        serial_after: after.serial,
    };
    if pushed.lineage.as_deref() != Some(pushed.file_lineage.as_str()) {
        ui::warn(&format!(
            "`{}` now has lineage {} while `{rel}` had {}: tofu gave the key's first state a lineage of its own (the resources are the file's)",
            pushed.object,
            pushed.lineage.as_deref().unwrap_or("none"),
            pushed.file_lineage
        ));
    }
    if json {
        ui::print_json(&pushed)?;
    } else {
        crate::outln!(
            "pushed `{rel}` to `{}` (lineage {}, serial {} → {}); removed it",
            pushed.object,
            pushed.lineage.as_deref().unwrap_or("none"),
            pushed.serial_before.map_or_else(|| "none".into(), |s| s.to_string()),
            pushed.serial_after.map_or_else(|| "?".into(), |s| s.to_string())
        );
    }
    Ok(exit::OK)
}
