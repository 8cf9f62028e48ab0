//! The saved plan as `gf show` needs it: its metadata, why it would no longer apply, and
//! `tofu show -json` of it.

use super::eval::{self, Mode, RunCx};
use super::out::Out;
use super::{LifecycleError, Op, Options, gates, stack, work};
use crate::session::{Session, World};

/// The saved plan of `stack` as tofu's JSON (`tofu show -json`), with its metadata and, when it
/// would no longer apply, why (the `stale-plan` rules): what `gf show` renders. Runs the run
/// gates, `no-plan` and `state-key`; initializes the data folder when needed.
pub async fn saved_plan<W: World>(s: &Session<W>, stack: &str) -> Result<SavedPlan, LifecycleError> {
    let st = s.contract.stack(stack)?;
    let o = Options { op: Op::Show, stacks: vec![st.name.clone()], jobs: 1, ..Options::default() };
    let selection = [st];
    let mut rcx = RunCx::new(s, &o, &selection, Mode::Real);
    if let Some(r) = rcx.run_gates().await.iter().find_map(gates::Decision::refusal) {
        return Err(r.into());
    }
    let mut out = Out::new(&st.name, false, true, false);
    let (meta, facts, work) = {
        let mut cx = eval::StackCx::new(&rcx, st, &mut out);
        if let Some(r) = cx.stack_gates().await.iter().find_map(gates::Decision::refusal) {
            return Err(r.into());
        }
        (cx.meta.take(), cx.facts.take(), cx.work.clone())
    };
    let Some(meta) = meta else {
        return Err(LifecycleError::Internal("no plan metadata after `no-plan`".into()));
    };
    let stale = match (&facts, &rcx.facts.settings, &rcx.facts.tofu) {
        (Some(f), Some(settings), Some(tofu)) => {
            let backend = crate::backend::Backend::new(st, &s.env, settings.location.clone())?;
            eval::check_plan(&meta, f, &backend, &s.env, tofu, &work, &st.dir).err()
        }
        _ => None,
    };
    let json = stack::show_plan(&rcx, st, work, &mut out).await?;
    Ok(SavedPlan { meta, stale, json })
}

/// A saved plan as `gf show` needs it.
#[derive(Debug)]
pub struct SavedPlan {
    /// Its metadata.
    pub meta: work::PlanMeta,
    /// Why `apply` would refuse it now (`stale-plan`), if it would.
    pub stale: Option<String>,
    /// `tofu show -json` of it.
    pub json: serde_json::Value,
}
