//! `gf drift`'s two plans on the lifecycle's [`Steps`]: each to a temporary file, read back with
//! `show -json` in memory, removed.

use std::path::PathBuf;

use super::{DriftError, PlanJson, TEMP_PLAN};
use crate::lifecycle::LifecycleError;
use crate::lifecycle::argv::{self, DriftPlan};
use crate::lifecycle::render::{self, Render};
use crate::lifecycle::stack::Steps;
use crate::lifecycle::work;
use crate::session::World;
use crate::tofu::{Invocation, Stream, TofuError};

/// A plan file that is removed when dropped: also on an error or a signal.
struct TempPlan(PathBuf);

impl Drop for TempPlan {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// tofu's `-json` lines `gf drift` does not show: its own report says what differs, and the
/// refresh-only plan's output lines would show pending changes as if they were drift.
fn shown(line: &str) -> bool {
    let kind = serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("type").and_then(serde_json::Value::as_str).map(str::to_string));
    !matches!(kind.as_deref(), Some("planned_change" | "resource_drift" | "outputs" | "change_summary"))
}

impl<W: World> Steps<'_, '_, W> {
    /// One of the two plans, to a temporary file, read back with `show -json`, removed.
    pub(super) async fn drift_plan(&mut self, which: DriftPlan) -> Result<(PlanJson, i32), LifecycleError> {
        let file = TempPlan(work::unique_sibling(&self.work.dir.join(TEMP_PLAN)));
        let paths = argv::Paths { plan_out: file.0.clone(), ..self.paths.clone() };
        let plan = argv::drift_plan(which, &paths, &self.rcx.facts.extra);
        let ok: &[i32] = if which == DriftPlan::Pending { &[0, 2] } else { &[0] };
        let (code, _) = self.tofu_codes(plan, ok, false).await?;
        let (_, json) = self.tofu_codes(argv::show_json(&file.0), &[0], true).await?;
        drop(file);
        let plan = PlanJson::parse(&json).map_err(|e| DriftError::PlanJson {
            stack: self.stack.name.clone(),
            which: if which == DriftPlan::Refresh { "refresh-only" } else { "normal" },
            reason: e.to_string(),
        })?;
        Ok((plan, code))
    }

    /// Run tofu accepting the exit codes `ok`; stdout is kept (`keep`) or rendered into the
    /// stack's output; a failure carries tofu's error diagnostics.
    async fn tofu_codes(
        &mut self,
        args: Vec<std::ffi::OsString>,
        ok: &[i32],
        keep: bool,
    ) -> Result<(i32, Vec<u8>), LifecycleError> {
        let inv = Invocation { args, cwd: self.stack.dir.clone(), env: self.env.clone() };
        let out = &mut *self.out;
        let mut r = Render::default();
        let mut kept = Vec::new();
        let res = self
            .tofu
            .run_codes(inv, ok, |s, l| match s {
                Stream::Stdout if keep => {
                    kept.extend_from_slice(l);
                    kept.push(b'\n');
                }
                Stream::Stdout => {
                    let l = String::from_utf8_lossy(l);
                    let lines = r.feed(&l);
                    if shown(&l) {
                        for line in lines {
                            out.line(&line);
                        }
                    }
                }
                Stream::Stderr => out.line(&render::strip_ansi(&String::from_utf8_lossy(l))),
            })
            .await;
        match res {
            Ok(code) => Ok((code, kept)),
            Err(TofuError::Failed { argv, status, mut tail }) => {
                if !r.errors.is_empty() {
                    tail.clone_from(&r.errors);
                }
                Err(TofuError::Failed { argv, status, tail }.into())
            }
            Err(e) => Err(e.into()),
        }
    }
}
