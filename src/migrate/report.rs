//! The steps of `gf state migrate` as data, what each came to, and the signals that stop a run.

use std::fmt::Write as _;

use serde::Serialize;

use super::tfstate::StateSummary;
pub use crate::signals::Signal;

/// The steps, in the order every run takes them. A real run and a dry run walk the same list;
/// the dry run takes no lock and writes nothing, so those steps are `skip` there.
pub const STEPS: [Step; 12] = [
    Step::Contract,
    Step::Address,
    Step::Credentials,
    Step::HttpLock,
    Step::HttpRead,
    Step::HttpState,
    Step::S3Lock,
    Step::ExistingState,
    Step::S3Write,
    Step::ReadBack,
    Step::S3Unlock,
    Step::HttpUnlock,
];

/// One step of a migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// The stack has a state key for the environment.
    Contract,
    /// `--from-http`, `--lock-address`, `--unlock-address` and the methods are usable.
    Address,
    /// `TF_HTTP_*` and the S3 variables.
    Credentials,
    /// Lock the HTTP state.
    HttpLock,
    /// `GET` the HTTP state.
    HttpRead,
    /// It is a version 4 tofu state.
    HttpState,
    /// Create `<key>.tflock` (`If-None-Match: *`).
    S3Lock,
    /// The rule for an object already at the key.
    ExistingState,
    /// The conditional write.
    S3Write,
    /// Read the object back and compare bytes.
    ReadBack,
    /// Delete gf's `<key>.tflock`.
    S3Unlock,
    /// Unlock the HTTP state.
    HttpUnlock,
}

impl Step {
    /// The name, as in `--json` and as the gate of a refusal.
    pub fn name(self) -> &'static str {
        match self {
            Self::Contract => "contract",
            Self::Address => "address",
            Self::Credentials => "credentials",
            Self::HttpLock => "http-lock",
            Self::HttpRead => "http-read",
            Self::HttpState => "http-state",
            Self::S3Lock => "s3-lock",
            Self::ExistingState => "existing-state",
            Self::S3Write => "s3-write",
            Self::ReadBack => "read-back",
            Self::S3Unlock => "s3-unlock",
            Self::HttpUnlock => "http-unlock",
        }
    }
}

/// What a step came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done, or would be done.
    Pass,
    /// Not taken (dry run), with why.
    Skip,
    /// A safety gate refused (exit 3).
    Refuse,
    /// It failed (exit 1).
    Error,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Skip => "skip",
            Self::Refuse => "refuse",
            Self::Error => "error",
        }
    }
}

/// One step's line.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// The step.
    pub step: Step,
    /// Its outcome.
    pub outcome: Outcome,
    /// What happened (never a credential or a state value other than serial and lineage).
    pub detail: String,
}

/// Where a lock stands at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LockStatus {
    /// gf never took it.
    NotTaken,
    /// gf took and released it.
    Released,
    /// gf holds it still (a failed release, or kept on purpose after a bad read-back).
    Held,
}

/// The S3 object.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Endpoint.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Key, exactly as the manifest writes it.
    pub key: String,
}

/// The object a `--yes` run replaced.
#[derive(Debug, Clone, Serialize)]
pub struct Replaced {
    /// Its serial.
    pub serial: u64,
    /// Its ETag.
    pub etag: String,
}

/// The error part of the document.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDoc {
    /// The refusing gate (a step name), for refusals.
    pub gate: Option<&'static str>,
    /// The message.
    pub message: String,
}

/// Everything a run did: the `--json` document, and the human output's source.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `state migrate`.
    pub command: &'static str,
    /// Whether it succeeded.
    pub ok: bool,
    /// `--dry-run`.
    pub dry_run: bool,
    /// Stack.
    pub stack: String,
    /// Environment.
    pub env: String,
    /// The HTTP state's address, query hidden (null when it was refused).
    pub from: Option<String>,
    /// The S3 object (null until the S3 variables are known).
    pub to: Option<Target>,
    /// The migrated (dry run: readable) state.
    pub state: Option<StateSummary>,
    /// The object `--yes` replaced.
    pub replaced: Option<Replaced>,
    /// The written object's ETag.
    pub etag: Option<String>,
    /// The id of gf's locks (HTTP and S3).
    pub lock_id: Option<String>,
    /// The HTTP state's lock at the end.
    pub http_lock: LockStatus,
    /// `<key>.tflock` at the end.
    pub s3_lock: LockStatus,
    /// Every step taken, in order.
    pub steps: Vec<StepReport>,
    /// Warnings (e.g. credentials sent in clear text).
    pub warnings: Vec<String>,
    /// What the operator must do about a lock left behind.
    pub notes: Vec<String>,
    /// The failure.
    pub error: Option<ErrorDoc>,
    /// Print each step on stderr as it is recorded.
    #[serde(skip)]
    pub live: bool,
}

impl Report {
    /// An empty report.
    pub fn new(stack: &str, env: &str, dry_run: bool, live: bool) -> Self {
        Self {
            command: "state migrate",
            ok: false,
            dry_run,
            stack: stack.into(),
            env: env.into(),
            from: None,
            to: None,
            state: None,
            replaced: None,
            etag: None,
            lock_id: None,
            http_lock: LockStatus::NotTaken,
            s3_lock: LockStatus::NotTaken,
            steps: Vec::new(),
            warnings: Vec::new(),
            notes: Vec::new(),
            error: None,
            live,
        }
    }

    /// Record a step.
    pub fn record(&mut self, step: Step, outcome: Outcome, detail: impl Into<String>) {
        let r = StepReport { step, outcome, detail: detail.into() };
        if self.live {
            crate::ui::err(&line(&r));
        }
        self.steps.push(r);
    }

    /// Record a warning (printed at once on a human run).
    pub fn warn(&mut self, message: String) {
        if self.live {
            crate::ui::warn(&message);
        }
        self.warnings.push(message);
    }

    /// Record a passed step.
    pub fn pass(&mut self, step: Step, detail: impl Into<String>) {
        self.record(step, Outcome::Pass, detail);
    }

    /// Record a skipped step.
    pub fn skip(&mut self, step: Step, detail: impl Into<String>) {
        self.record(step, Outcome::Skip, detail);
    }

    /// The outcome recorded for `step`, if it ran.
    pub fn outcome(&self, step: Step) -> Option<Outcome> {
        self.steps.iter().rev().find(|s| s.step == step).map(|s| s.outcome)
    }

    /// The human summary (stdout) of a successful run.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let (Some(s), Some(t)) = (&self.state, &self.to) else { return out };
        let what = format!(
            "serial {}, lineage `{}`, {} resource{} ({} instance{}), {} bytes",
            s.serial,
            s.lineage,
            s.resources,
            if s.resources == 1 { "" } else { "s" },
            s.instances,
            if s.instances == 1 { "" } else { "s" },
            s.size
        );
        let object = format!("s3://{}/{}", t.bucket, t.key);
        if self.dry_run {
            let how = if self.replaced.is_some() { "replacing an older serial at" } else { "creating" };
            let _ = writeln!(out, "dry run: would migrate `{}` ({}): {what}, {how} {object}", self.stack, self.env);
            return out;
        }
        let _ = writeln!(out, "migrated `{}` ({}): {what}", self.stack, self.env);
        let _ = writeln!(out, "  from  {}", self.from.as_deref().unwrap_or("-"));
        let _ = writeln!(out, "  to    {object} (etag {})", self.etag.as_deref().unwrap_or("-"));
        if let Some(r) = &self.replaced {
            let _ = writeln!(out, "  replaced serial {} (etag {})", r.serial, r.etag);
        }
        let _ = writeln!(
            out,
            "next: `gf plan {} --detailed-exitcode` must exit 0 (no changes); then retire the HTTP backend (README: \"Migrating from GitLab HTTP state\")",
            self.stack
        );
        out
    }
}

fn line(r: &StepReport) -> String {
    format!("  {:<15} {:<7} {}", r.step.name(), r.outcome.label(), r.detail)
}

/// Whether SIGINT, SIGTERM or SIGHUP arrived ([`crate::signals`] handles them for the whole run:
/// they never kill gf, so the migration stops at its next safe point and releases its locks).
pub enum Interrupt {
    /// The process's signals.
    Process,
    /// Fires only through the sender [`Interrupt::manual`] returns (unit tests).
    Manual(tokio::sync::watch::Receiver<Option<Signal>>),
}

impl Interrupt {
    /// The process's signals.
    pub fn process() -> Self {
        Self::Process
    }

    /// One that fires only through the returned sender (unit tests).
    pub fn manual() -> (Self, tokio::sync::watch::Sender<Option<Signal>>) {
        let (tx, rx) = tokio::sync::watch::channel(None);
        (Self::Manual(rx), tx)
    }

    /// The signal, if one arrived.
    pub fn fired(&self) -> Option<Signal> {
        match self {
            Self::Process => crate::signals::received(),
            Self::Manual(rx) => *rx.borrow(),
        }
    }

    /// Resolves when a signal arrives (never, for a manual one whose sender is gone).
    pub async fn wait(&self) -> Signal {
        match self {
            Self::Process => crate::signals::any().await,
            Self::Manual(rx) => {
                let mut rx = rx.clone();
                match rx.wait_for(Option::is_some).await {
                    Ok(s) => s.unwrap_or(Signal::Interrupt),
                    Err(_) => std::future::pending().await,
                }
            }
        }
    }
}
