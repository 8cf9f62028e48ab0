//! The stack gates on gf's working folder: `local-lock`, `errored-state` and `no-plan`.

use super::StackCx;
use crate::lifecycle::argv::rel;
use crate::lifecycle::gates::{Gate, Verdict};
use crate::lifecycle::work::{self, PlanMeta, WorkError};
use crate::session::World;

impl<W: World> StackCx<'_, '_, W> {
    pub(super) fn local_lock(&mut self) -> Verdict {
        let (s, o) = (self.run.s, self.run.o);
        let at = rel(s.root(), &self.work.dir);
        if !self.real() {
            if let Err(e) = self.work.refuse_links() {
                return Verdict::error(e.to_string());
            }
            return match self.work.lock_holder() {
                Some(holder) => Verdict::refuse(
                    Gate::LocalLock,
                    format!("another gf run in this checkout holds `{}` in `{}` ({holder})", self.stack.name, s.env),
                ),
                None => Verdict::pass(format!("`{at}` is free; the run holds it until it ends")),
            };
        }
        match self.work.lock(&self.stack.name, &s.env, &format!("gf {}", o.op.name()), o.lock_wait) {
            Ok(lock) => {
                self.lock = Some(lock);
                Verdict::pass(format!("`{at}` held by this run (pid {})", std::process::id()))
            }
            Err(e @ WorkError::Busy { .. }) => Verdict::refuse(Gate::LocalLock, e.to_string()),
            Err(e) => Verdict::error(e.to_string()),
        }
    }

    pub(super) fn errored_state(&mut self) -> Verdict {
        let s = self.run.s;
        let stray = self.stack.dir.join(work::ERRORED_STATE);
        if self.real() {
            match work::adopt_errored_state(&self.stack.dir, &self.work) {
                Ok(Some(dest)) => self.out.warn(&format!(
                    "found `{}` (tofu could not save state after an apply): moved it to `{}` (0600)",
                    rel(s.root(), &stray),
                    rel(s.root(), &dest)
                )),
                Ok(None) => {}
                Err(e) => return Verdict::error(e.to_string()),
            }
        }
        let held = if self.work.errored_state().is_file() {
            Some(self.work.errored_state())
        } else if stray.is_file() {
            Some(stray)
        } else {
            None
        };
        match held {
            Some(p) => Verdict::refuse(
                Gate::ErroredState,
                format!(
                    "`{}` holds state tofu could not save after a failed apply of `{}` (the only copy of what was applied): push it with `gf state push-errored {}`, or remove it if you know it is obsolete",
                    rel(s.root(), &p),
                    self.stack.name,
                    self.stack.name
                ),
            ),
            None => Verdict::pass("no `errored.tfstate` waiting"),
        }
    }

    pub(super) fn no_plan(&mut self) -> Verdict {
        let s = self.run.s;
        let plan = rel(s.root(), &self.work.plan_file());
        let none = || {
            Verdict::refuse(
                Gate::NoPlan,
                format!(
                    "no saved plan for `{}` in `{}` (`{plan}`): `gf apply` applies only a plan saved by `gf plan {}`",
                    self.stack.name, s.env, self.stack.name
                ),
            )
        };
        match work::read_json::<PlanMeta>(&self.work.plan_meta()) {
            Ok(Some(m)) if self.work.plan_file().is_file() => {
                let v = Verdict::pass(format!(
                    "`{plan}` from {}{}",
                    m.created,
                    if m.destroy { " (a destroy plan)" } else { "" }
                ));
                self.meta = Some(m);
                v
            }
            Ok(_) => none(),
            Err(e) => Verdict::refuse(Gate::NoPlan, e.to_string()),
        }
    }
}
