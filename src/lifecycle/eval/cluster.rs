//! The run gates that decide which inputs and which cluster a run gets: `inputs` (every required
//! variable has a source), `context` (with the kubeconfig context for kubernetes/helm stacks) and
//! `cluster-identity` (the cluster behind the context is the environment's `cluster_uid`).

use super::{Gate, Mode, Op, RunCx, Verdict};
use crate::context::{self, ContextStatus};
use crate::inputs;
use crate::session::World;

impl<W: World> RunCx<'_, W> {
    pub(super) fn inputs(&mut self) -> Verdict {
        let s = self.s;
        let cli = self.facts.extra.cli_inputs();
        let mut refusals = Vec::new();
        let mut passes = Vec::new();
        for st in self.stacks {
            let i = inputs::resolve(s.root(), st, &s.env, &s.vars, &cli);
            refusals.extend(i.refusals(&st.name, &s.env));
            passes.push(format!(
                "`{}`: {} ({})",
                st.name,
                i.summary(),
                if i.var_file_present { format!("`{}`", i.var_file) } else { format!("no `{}`", i.var_file) }
            ));
            self.facts.inputs.insert(st.name.clone(), i);
        }
        if refusals.is_empty() {
            Verdict::pass(passes.join("; "))
        } else {
            Verdict::refuse(Gate::Inputs, format!("a required input has no source:\n  {}", refusals.join("\n  ")))
        }
    }

    /// The selected stacks this command makes reach the cluster: those using the kubernetes or
    /// helm provider, and for `apply` those whose lane gf drains; each with why.
    fn cluster_users(&self) -> Vec<String> {
        let mut users: Vec<String> = self
            .facts
            .cluster_stacks
            .iter()
            .map(|(n, p)| format!("`{n}` ({})", p.iter().copied().collect::<Vec<_>>().join(", ")))
            .collect();
        if self.o.op == Op::Apply {
            users.extend(
                self.stacks
                    .iter()
                    .filter(|st| st.lane.is_some() && !self.facts.cluster_stacks.iter().any(|(n, _)| *n == st.name))
                    .map(|st| format!("`{}` (lane)", st.name)),
            );
        }
        users
    }

    pub(super) fn context(&mut self) -> Verdict {
        let s = self.s;
        self.facts.cluster_stacks = self
            .stacks
            .iter()
            .map(|st| (st.name.clone(), inputs::cluster_providers(s.root(), st)))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        let status = ContextStatus::of(&s.environment, &s.vars);
        let users = self.cluster_users().join(", ");
        if status.matches {
            if !self.o.op.needs_context() || users.is_empty() {
                self.facts.context_ok = true;
                return Verdict::pass(format!("`KUBE_CONTEXT` is `{}`", status.expected));
            }
            let paths = context::show_paths(&s.kubeconfig);
            return match context::kubeconfig_has_context(&s.kubeconfig, &status.expected) {
                Ok(true) => {
                    self.facts.context_ok = true;
                    Verdict::pass(format!(
                        "`KUBE_CONTEXT` is `{ctx}`, defined in the kubeconfig ({paths}); tofu gets `KUBE_CONFIG_PATH` and `KUBE_CTX={ctx}`; reaching the cluster: {users}",
                        ctx = status.expected
                    ))
                }
                Ok(false) => Verdict::refuse(
                    Gate::Context,
                    format!(
                        "the kubeconfig ({paths}) has no context `{ctx}`, which environment `{}` uses and {users} would deploy through: add it, or point `KUBECONFIG` at a kubeconfig that has it",
                        s.env,
                        ctx = status.expected
                    ),
                ),
                Err(e) => Verdict::refuse(
                    Gate::Context,
                    format!("{} ({paths}), needed by {users}", crate::ui::error_chain(&e)),
                ),
            };
        }
        if self.o.op.needs_context() {
            return Verdict::refuse(
                Gate::Context,
                format!("{}; refusing `gf {}`", status.problem(&self.s.env), self.o.op.name()),
            );
        }
        if self.mode == Mode::Real {
            status.report(&self.s.env, &format!("gf {}", self.o.op.name()));
        }
        Verdict::skip(format!("`gf {}` changes nothing: a context mismatch is only reported", self.o.op.name()))
    }

    pub(super) async fn cluster_identity(&self) -> Verdict {
        let s = self.s;
        let talk = self.cluster_users();
        if talk.is_empty() {
            return Verdict::skip(
                "no selected stack reaches the cluster (no kubernetes or helm provider, no lane apply)",
            );
        }
        let ctx = &s.environment.kube_context;
        let Some(expected) = s.environment.cluster_uid.as_deref() else {
            return Verdict::skip(format!(
                "environment `{}` declares no `cluster_uid`: only the context name `{ctx}` picks the cluster (`gf doctor` prints the line to add)",
                s.env
            ));
        };
        if !self.facts.context_ok {
            return Verdict::skip("needs the context (`context`)");
        }
        let observed = context::observe_uid(&s.world, &s.kubeconfig, ctx).await;
        match context::judge(observed, expected, &s.env, ctx) {
            Ok(detail) => Verdict::pass(format!("{detail}, for {}", talk.join(", "))),
            Err(why) => Verdict::refuse(Gate::ClusterIdentity, why),
        }
    }
}
