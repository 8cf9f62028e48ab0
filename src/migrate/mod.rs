//! `gf state migrate`: move a GitLab-managed (terraform `backend "http"`) state to the contract's
//! S3 key, under both locks, without ever forking a lineage or losing a byte.
//!
//! Order (see [`report::STEPS`]): lock the HTTP state → read it → check it is a version 4 tofu
//! state → take the S3 lock (`<key>.tflock`, `If-None-Match: *`, as tofu takes it) → apply the rule
//! for an object already at the key → conditional write → read back and compare bytes → release
//! the S3 lock → unlock the HTTP state. The HTTP state is unlocked on every path after it was
//! locked, the S3 lock likewise, except after a read-back that differs: then it stays, so no tofu
//! run starts on an object nobody has checked.

mod pipeline;
pub mod report;
mod shape;
pub mod tfstate;

use crate::backend::S3Location;
use crate::contract::{Contract, ContractError, Stack};
use crate::exit::{self, Refused};
use crate::httpstate::{self, Credentials, Endpoints, HttpStateClient, HttpStateError, LockRecord};
use crate::s3state::{S3Settings, S3StateError};
use crate::session::{Session, World};
pub use pipeline::migrate;
use report::{Interrupt, LockStatus, Outcome, Report, Signal, Step, Target};
use tfstate::NotAState;

/// The lock's `Operation`, as tofu shows it to whoever finds the lock held.
const OPERATION: &str = "gf state migrate";

/// What `gf state migrate` was asked to do (plain values, no clap types).
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// `--from-http`: the state's address.
    pub from_http: String,
    /// `--lock-address` (default: the address).
    pub lock_address: Option<String>,
    /// `--unlock-address` (default: the lock address).
    pub unlock_address: Option<String>,
    /// `--lock-method` (terraform's default `LOCK`; GitLab: `POST`).
    pub lock_method: String,
    /// `--unlock-method` (terraform's default `UNLOCK`; GitLab: `DELETE`).
    pub unlock_method: String,
    /// `--dry-run`: read both sides and report; no lock, no write.
    pub dry_run: bool,
    /// `--yes`: replace an older serial of the same lineage.
    pub yes: bool,
    /// `--json`: one document on stdout, also on error.
    pub json: bool,
}

/// Errors of a migration.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The stack has no key for the environment.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The HTTP state backend.
    #[error(transparent)]
    Http(#[from] HttpStateError),
    /// The S3 store.
    #[error(transparent)]
    S3(#[from] S3StateError),
    /// A safety gate refused (exit 3).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// Nothing at the address.
    #[error(
        "`{url}` holds no state (terraform reads 204, 404 or an empty body as none): nothing to migrate; check `--from-http`"
    )]
    NoState {
        /// The address as shown.
        url: String,
    },
    /// The HTTP state is not a tofu state.
    #[error("the HTTP state at `{url}` is not a tofu state: {reason}; gf migrates it only as tofu wrote it")]
    NotAState {
        /// The address as shown.
        url: String,
        /// Why.
        reason: NotAState,
    },
    /// The system's random source.
    #[error("cannot make a lock id from `/dev/urandom`: {0}")]
    LockId(std::io::Error),
    /// The object read back is not what was written.
    #[error(
        "`s3://{bucket}/{key}` read back {found}, not the {size} bytes written (sha256 {sha256}); gf keeps `{key}.tflock` so no tofu run uses it: inspect it with `gf state`"
    )]
    ReadBack {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
        /// What was found.
        found: String,
        /// Bytes written.
        size: usize,
        /// Their digest.
        sha256: String,
    },
    /// Someone replaced gf's S3 lock while gf held it.
    #[error("`s3://{bucket}/{key}` no longer holds gf's lock (now: {holder}); gf left it alone")]
    LockTaken {
        /// Bucket.
        bucket: String,
        /// The lock key.
        key: String,
        /// Who holds it now.
        holder: String,
    },
    /// SIGINT, SIGTERM or SIGHUP.
    #[error("interrupted by {}: stopped before writing anything", .0.name())]
    Interrupted(Signal),
    /// The JSON document.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl exit::Refusal for MigrateError {
    fn refusal(&self) -> Option<&Refused> {
        if let Self::Refused(r) = self { Some(r) } else { None }
    }
}

impl MigrateError {
    fn outcome(&self) -> Outcome {
        if matches!(self, Self::Refused(_)) { Outcome::Refuse } else { Outcome::Error }
    }

    /// The message for a step line (a refusal without its `refused (gate):`, the line names it).
    fn detail(&self) -> String {
        match self {
            Self::Refused(r) => r.message.clone(),
            other => other.to_string(),
        }
    }
}

/// Everything a run needs besides its two seams.
pub struct Job {
    /// The contract's key.
    pub key: String,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--yes`.
    pub yes: bool,
    /// The HTTP lock gf takes.
    pub http_lock: LockRecord,
    /// The S3 lock gf takes (same id).
    pub s3_lock: LockRecord,
    /// The address as shown.
    pub from: String,
}

/// `gf state migrate <STACK> --from-http <ADDRESS> …`: print the result (human or `--json`) and
/// return the exit code. `lookup` reads the environment snapshot (`TF_HTTP_*`, the S3 variables,
/// `USER`).
pub async fn run<W: World>(s: &Session<W>, stack: &Stack, opts: &MigrateOptions) -> Result<u8, MigrateError> {
    let (contract, env, lookup) = (&s.contract, s.env.as_str(), s.vars.lookup());
    let mut report = Report::new(&stack.name, env, opts.dry_run, !opts.json);
    let result = match prepare(contract, env, stack, &lookup, opts, &mut report) {
        Ok((job, client, settings)) => {
            let store = s.world.store(&settings);
            let interrupt = Interrupt::process();
            Box::pin(migrate(&client, &store, &job, &mut report, &interrupt)).await
        }
        Err(e) => Err(e),
    };
    finish(report, result, opts.json)
}

/// Everything checkable without a request: key, addresses, credentials, S3 settings.
fn prepare(
    contract: &Contract,
    env: &str,
    stack: &Stack,
    lookup: &impl Fn(&str) -> Option<String>,
    opts: &MigrateOptions,
    report: &mut Report,
) -> Result<(Job, HttpStateClient, S3Settings), MigrateError> {
    let key = fail(report, Step::Contract, stack.state_key(env).map_err(MigrateError::from))?.to_string();
    report.pass(Step::Contract, format!("`{}` keeps `{env}` state at `{key}`", stack.name));
    let endpoints = fail(
        report,
        Step::Address,
        Endpoints::parse(
            &opts.from_http,
            opts.lock_address.as_deref(),
            opts.unlock_address.as_deref(),
            &opts.lock_method,
            &opts.unlock_method,
        )
        .map_err(MigrateError::from),
    )?;
    let from = endpoints.state.to_string();
    report.from = Some(from.clone());
    report.pass(
        Step::Address,
        format!(
            "state `{from}`, lock `{} {}`, unlock `{} {}`",
            endpoints.lock_method, endpoints.lock, endpoints.unlock_method, endpoints.unlock
        ),
    );
    let credentials = fail(report, Step::Credentials, Credentials::from_lookup(lookup).map_err(MigrateError::from))?;
    let settings = fail(
        report,
        Step::Credentials,
        S3Settings::from_lookup(lookup, &contract.backend.region).map_err(MigrateError::from),
    )?;
    report.to = Some(target(&settings.location, &key));
    if credentials.is_some()
        && let Some(a) =
            [&endpoints.state, &endpoints.lock, &endpoints.unlock].into_iter().find(|a| a.cleartext_remote())
    {
        report.warn(format!(
            "`{a}` is plain `http://` to another host: `{}`/`{}` cross the network in clear text",
            httpstate::ENV_USERNAME,
            httpstate::ENV_PASSWORD
        ));
    }
    let who = match &credentials {
        Some(c) => format!("`{}` as `{}`", httpstate::ENV_USERNAME, c.username()),
        None => format!("no `{}`: no basic auth", httpstate::ENV_USERNAME),
    };
    let client = fail(
        report,
        Step::Credentials,
        HttpStateClient::new(endpoints, credentials, httpstate::Timeouts::default()).map_err(MigrateError::from),
    )?;
    report.pass(
        Step::Credentials,
        format!("HTTP: {who}; S3: `s3://{}/{key}` at `{}`", settings.location.bucket, settings.location.endpoint),
    );
    let http_lock = fail(
        report,
        Step::HttpLock,
        LockRecord::new(
            OPERATION,
            format!("migrating to s3://{}/{key}", settings.location.bucket),
            httpstate::who(lookup),
            from.clone(),
        )
        .map_err(MigrateError::LockId),
    )?;
    let s3_lock = LockRecord {
        info: format!("migrating from {from}"),
        path: format!("{}/{key}", settings.location.bucket),
        ..http_lock.clone()
    };
    report.lock_id = Some(http_lock.id.clone());
    let job = Job { key, dry_run: opts.dry_run, yes: opts.yes, http_lock, s3_lock, from };
    Ok((job, client, settings))
}

fn target(location: &S3Location, key: &str) -> Target {
    Target { endpoint: location.endpoint.clone(), bucket: location.bucket.clone(), key: key.into() }
}

/// Record a failed step and pass the error on.
fn fail<T>(report: &mut Report, step: Step, r: Result<T, MigrateError>) -> Result<T, MigrateError> {
    r.inspect_err(|e| report.record(step, e.outcome(), e.detail()))
}

/// Print the report and turn the result into the exit code.
fn finish(mut report: Report, result: Result<(), MigrateError>, json: bool) -> Result<u8, MigrateError> {
    let id = report.lock_id.clone().unwrap_or_default();
    if report.http_lock == LockStatus::Held {
        report.notes.push(format!(
            "the HTTP state `{}` is still locked by gf (lock id `{id}`): release it with `terraform force-unlock {id}` in a checkout configured for that backend, or GitLab's \"Unlock\" on the state",
            report.from.as_deref().unwrap_or("-")
        ));
    }
    if report.s3_lock == LockStatus::Held
        && let Some(t) = &report.to
    {
        report.notes.push(format!(
            "`s3://{}/{}.tflock` is still held by gf (lock id `{id}`): `gf state {}` shows it; remove it once the state object is checked",
            t.bucket, t.key, report.stack
        ));
    }
    report.ok = result.is_ok();
    if let Err(e) = &result {
        let gate = match e {
            MigrateError::Refused(r) => Some(r.gate),
            _ => None,
        };
        report.error = Some(report::ErrorDoc { gate, message: e.to_string() });
    }
    if json {
        // Marks the document as printed: an error adds no second one.
        crate::ui::print_json(&report)?;
    } else if result.is_ok() {
        crate::ui::out_raw(&report.summary());
    }
    if !json {
        for n in &report.notes {
            crate::ui::warn(n);
        }
    }
    result.map(|()| exit::OK)
}

#[cfg(test)]
mod tests;
