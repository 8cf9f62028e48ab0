//! The `KUBE_CONTEXT` gate, shared by the lifecycle, the lane, the cache check and `doctor`:
//! mutating commands refuse a mismatch (exit 3), read-only ones only report it.

use serde::Serialize;

use crate::contract::Environment;
use crate::exit::Refused;
use crate::session::Vars;
use crate::ui;

/// The variable naming the kubeconfig context.
pub const VAR: &str = "KUBE_CONTEXT";

/// `KUBE_CONTEXT` compared with the environment's `kube_context`.
#[derive(Debug, Clone, Serialize)]
pub struct ContextStatus {
    /// The environment's `kube_context`.
    pub expected: String,
    /// `KUBE_CONTEXT`, if set and not empty.
    pub actual: Option<String>,
    /// Whether they are equal.
    pub matches: bool,
}

impl ContextStatus {
    /// Compare `actual` (the value of `KUBE_CONTEXT`) with the environment's context.
    pub fn new(environment: &Environment, actual: Option<String>) -> Self {
        let actual = actual.filter(|a| !a.is_empty());
        let matches = actual.as_deref() == Some(environment.kube_context.as_str());
        Self { expected: environment.kube_context.clone(), actual, matches }
    }

    /// From the session's environment snapshot.
    pub fn of(environment: &Environment, vars: &Vars) -> Self {
        Self::new(environment, vars.get(VAR))
    }

    /// Why it does not match, and how to fix it.
    pub fn problem(&self, env: &str) -> String {
        match &self.actual {
            Some(a) => format!(
                "`{VAR}` is `{a}`, but environment `{env}` uses kube context `{want}`: set `{VAR}={want}`",
                want = self.expected
            ),
            None => format!(
                "`{VAR}` is not set; environment `{env}` uses kube context `{want}`: set `{VAR}={want}`",
                want = self.expected
            ),
        }
    }

    /// For a mutating command: the context to use, or a refusal (gate `context`) naming both.
    pub fn require(&self, env: &str, command: &str) -> Result<&str, Refused> {
        match (&self.actual, self.matches) {
            (Some(a), true) => Ok(a),
            _ => Err(Refused::new("context", format!("{}; refusing `{command}`", self.problem(env)))),
        }
    }

    /// For a read-only command: warn about a mismatch (an unset variable is not a mismatch).
    pub fn report(&self, env: &str, command: &str) {
        if self.actual.is_some() && !self.matches {
            ui::warn(&format!("{} (reported only: `{command}` changes nothing)", self.problem(env)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_names_both_contexts_and_the_fix() {
        let e = Environment { kube_context: "honey".into() };
        assert!(ContextStatus::new(&e, Some("honey".into())).matches);
        assert_eq!(ContextStatus::new(&e, Some("honey".into())).require("dev", "gf plan").unwrap(), "honey");
        let s = ContextStatus::new(&e, Some("kind".into()));
        assert!(!s.matches);
        let r = s.require("dev", "gf lane drain").unwrap_err();
        assert_eq!(r.gate, "context");
        for part in ["`kind`", "`honey`", "`KUBE_CONTEXT=honey`", "`gf lane drain`"] {
            assert!(r.message.contains(part), "{}", r.message);
        }
        let unset = ContextStatus::new(&e, Some(String::new()));
        assert!(unset.actual.is_none() && unset.problem("dev").contains("not set"));
        assert!(unset.require("dev", "gf apply").is_err());
    }
}
