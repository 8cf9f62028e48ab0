//! The stack gates on the state: `state-key` (the state object as gf looks it up) and
//! `stale-plan` (the saved plan still matches the state, backend, tofu and var files).

use super::StackCx;
use crate::backend::Backend;
use crate::lifecycle::gates::{Gate, Verdict};
use crate::lifecycle::work::{self, PlanMeta, StateAtPlan, Work};
use crate::s3state::{self, StateFacts};
use crate::session::World;
use crate::tofu::Tofu;

impl<W: World> StackCx<'_, '_, W> {
    pub(super) async fn state_key(&mut self) -> Verdict {
        let (s, o) = (self.run.s, self.run.o);
        let Some(settings) = &self.run.facts.settings else {
            return Verdict::skip("needs the S3 settings (`credentials`)");
        };
        let key = match self.stack.state_key(&s.env) {
            Ok(k) => k.to_string(),
            Err(e) => return Verdict::error(e.to_string()),
        };
        let store = s.world.store(settings);
        let spinner = if self.real() {
            self.out.spinner(&format!("looking up `s3://{}/{key}`", settings.location.bucket))
        } else {
            None
        };
        let facts = Box::pin(s3state::facts(&store, &key)).await;
        if let Some(p) = spinner {
            p.finish_and_clear();
        }
        let facts = match facts {
            Ok(f) => f,
            Err(e) => return Verdict::error(e.to_string()),
        };
        let object = format!("`s3://{}/{key}`", facts.bucket);
        let allow = o.allow_empty_state || self.meta.as_ref().is_some_and(|m| m.allow_empty_state);
        // The real run warns; the dry run says it in the verdict (it prints no warnings).
        let lock_note = facts.lock.as_ref().map(|lock| {
            format!(
                "the state is locked by {} ({}) since {} (lock id {}); tofu will wait for or fail on it (a lock left by a crash: `gf state unlock {}`)",
                lock.who, lock.operation, lock.since, lock.id, self.stack.name
            )
        });
        if let (Some(note), true) = (&lock_note, self.real()) {
            self.out.warn(note);
        }
        let v = if facts.exists {
            Verdict::pass(format!(
                "{object}: serial {}, lineage {}",
                facts.serial.unwrap_or(0),
                facts.lineage.as_deref().unwrap_or("-")
            ))
        } else if allow {
            if self.real() {
                self.out.warn(&format!("no state at {object}: accepted (`--allow-empty-state`)"));
            }
            Verdict::pass(format!("no state at {object}: accepted (`--allow-empty-state`)"))
        } else {
            Verdict::refuse(
                Gate::StateKey,
                format!(
                    "no state at {object} for stack `{}` in `{}`: tofu would start an empty state and {}; check the key and the bucket, or pass `--allow-empty-state` if this stack has never been applied",
                    self.stack.name,
                    s.env,
                    if o.op == crate::lifecycle::Op::Destroy {
                        "destroy nothing, leaving every real resource running"
                    } else {
                        "plan to recreate everything"
                    }
                ),
            )
        };
        self.facts = Some(facts);
        match lock_note {
            Some(note) if !self.real() => v.noting(&note),
            _ => v,
        }
    }

    pub(super) fn stale_plan(&self) -> Verdict {
        let run = self.run;
        let (Some(meta), Some(facts), Some(settings), Some(tofu)) =
            (&self.meta, &self.facts, &run.facts.settings, &run.facts.tofu)
        else {
            return Verdict::skip("needs the saved plan (`no-plan`) and the state (`state-key`)");
        };
        let backend = match Backend::new(self.stack, &run.s.env, settings.location.clone()) {
            Ok(b) => b,
            Err(e) => return Verdict::error(e.to_string()),
        };
        match check_plan(meta, facts, &backend, &run.s.env, tofu, &self.work, &self.stack.dir) {
            Ok(()) => Verdict::pass(format!(
                "the plan matches: state serial {}, backend, tofu {}, plan digest",
                facts.serial.unwrap_or(0),
                tofu.version
            )),
            Err(why) => Verdict::refuse(Gate::StalePlan, format!("{why}; run `gf plan {}` again", self.stack.name)),
        }
    }
}

/// The state a plan was made against, as recorded.
pub fn state_at(f: &StateFacts) -> StateAtPlan {
    StateAtPlan { exists: f.exists, serial: f.serial, lineage: f.lineage.clone(), etag: f.etag.clone() }
}

/// Why a saved plan no longer applies, if it does not: another stack/env or backend, another state,
/// another tofu, other plan bytes, changed var files.
pub fn check_plan(
    meta: &PlanMeta,
    facts: &StateFacts,
    backend: &Backend,
    env: &str,
    tofu: &Tofu,
    work: &Work,
    stack_dir: &std::path::Path,
) -> Result<(), String> {
    let stack = &backend.stack;
    if meta.env != env || meta.stack != *stack {
        return Err(format!("the saved plan is for `{}` in `{}`, not `{stack}` in `{env}`", meta.stack, meta.env));
    }
    if meta.backend_digest != backend.digest() {
        return Err(format!(
            "the backend of `{stack}` changed since the plan (endpoint, bucket, region or key differ)"
        ));
    }
    let now = state_at(facts);
    if now.exists != meta.state.exists || now.serial != meta.state.serial || now.etag != meta.state.etag {
        let show = |s: &StateAtPlan| {
            if s.exists {
                format!("serial {} (ETag {})", s.serial.unwrap_or(0), s.etag.as_deref().unwrap_or("-"))
            } else {
                "no state".to_string()
            }
        };
        return Err(format!(
            "the state of `{stack}` changed since the plan was made ({}): plan was against {}, state is now {}",
            meta.created,
            show(&meta.state),
            show(&now)
        ));
    }
    if meta.tofu_version != tofu.version {
        return Err(format!(
            "the saved plan of `{stack}` was made with tofu {} but this is {}",
            meta.tofu_version, tofu.version
        ));
    }
    let digest = work::file_digest(&work.plan_file()).map_err(|e| e.to_string())?;
    if meta.plan_digest != digest {
        return Err(format!(
            "`plan.tfplan` of `{stack}` is not the file `gf plan` saved (its SHA-256 differs from `plan.json`)"
        ));
    }
    for vf in &meta.var_files {
        let now = work::var_file_digest(&stack_dir.join(&vf.path)).map_err(|e| e.to_string())?;
        if now == vf.sha256 {
            continue;
        }
        let shown = vf.path.display();
        return Err(match (vf.sha256.as_str(), now.as_str()) {
            (work::ABSENT, _) => {
                format!("var file `{shown}` of `{stack}` exists now but did not when the plan was made")
            }
            (_, work::ABSENT) => format!("var file `{shown}` of `{stack}` was removed since the plan"),
            _ => format!("var file `{shown}` of `{stack}` changed since the plan"),
        });
    }
    Ok(())
}
