//! The run gates that need no cluster: `tofu-args` (the allowlist), `sources`, `operator-in-ci`,
//! `tofu` and `credentials`.

use super::{Mode, RunCx, version_cache};
use crate::contract::{ApplyMode, Severity};
use crate::inputs;
use crate::lifecycle::argv::ExtraArgs;
use crate::lifecycle::gates::{Gate, Verdict};
use crate::s3state::S3Settings;
use crate::session::World;
use crate::tofu::{self, Tofu};

impl<W: World> RunCx<'_, W> {
    pub(super) fn tofu_args(&mut self) -> Verdict {
        let (s, o) = (self.s, self.o);
        match ExtraArgs::parse(o.op, &o.tofu_args) {
            Ok(extra) => {
                let v = if extra.args.is_empty() {
                    Verdict::pass("no extra tofu arguments")
                } else {
                    let sensitive = self.stacks.iter().flat_map(|st| inputs::sensitive_names(s.root(), st)).collect();
                    Verdict::pass(format!("allowed: {}", inputs::mask_var_args(&extra.args, &sensitive).join(" ")))
                };
                self.facts.extra = extra;
                v
            }
            Err(e) => Verdict::refuse(Gate::TofuArgs, e.to_string()),
        }
    }

    pub(super) fn sources(&self) -> Verdict {
        let s = self.s;
        let errors: Vec<String> = self
            .stacks
            .iter()
            .flat_map(|st| crate::check::check_sources(s.root(), st))
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.to_string())
            .collect();
        if errors.is_empty() {
            Verdict::pass("the stacks' sources pass `gf check`'s source rules")
        } else {
            Verdict::refuse(Gate::Sources, format!("the stacks' sources fail `gf check`:\n  {}", errors.join("\n  ")))
        }
    }

    pub(super) fn credentials(&mut self) -> Verdict {
        let s = self.s;
        match S3Settings::from_lookup(s.vars.lookup(), &s.contract.backend.region) {
            Ok(settings) => {
                let v = Verdict::pass(format!(
                    "endpoint `{}`, bucket `{}`; the credentials reach tofu only as `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`",
                    settings.location.endpoint, settings.location.bucket
                ));
                self.facts.settings = Some(settings);
                v
            }
            Err(e) => Verdict::refuse(Gate::Credentials, e.to_string()),
        }
    }

    pub(super) fn operator_in_ci(&self) -> Verdict {
        let operator: Vec<String> = self
            .stacks
            .iter()
            .filter(|st| st.apply == ApplyMode::Operator)
            .map(|st| format!("`{}`", st.name))
            .collect();
        if !self.s.ci {
            return Verdict::pass("`CI` is not `true`");
        }
        if operator.is_empty() {
            return Verdict::pass("`CI=true`, and no selected stack is `apply: operator`");
        }
        Verdict::refuse(
            Gate::OperatorInCi,
            format!(
                "`CI=true` and {} {} `apply: operator`: operator stacks are applied by an operator, not by CI (the whole run is refused)",
                operator.join(", "),
                if operator.len() == 1 { "is" } else { "are" }
            ),
        )
    }

    pub(super) async fn tofu(&mut self) -> Verdict {
        let s = self.s;
        let loc = match tofu::locate(s.vars.lookup()) {
            Ok(l) => l,
            Err(e) => return Verdict::refuse(Gate::Tofu, e.to_string()),
        };
        let terraform = loc.source == tofu::Source::PathTerraform;
        match Tofu::probe_cached(loc, &version_cache(s.root())).await {
            Ok(t) => {
                if terraform && self.mode == Mode::Real {
                    crate::ui::warn(&format!(
                        "no `tofu` found: using `{}` (Terraform); set `GF_TOFU` or use `nix develop` for the pinned OpenTofu",
                        t.path.display()
                    ));
                }
                let v =
                    Verdict::pass(format!("`{}` ({}), version {}", t.path.display(), t.source.describe(), t.version));
                self.facts.tofu = Some(t);
                v
            }
            Err(e) => Verdict::refuse(Gate::Tofu, e.to_string()),
        }
    }
}
