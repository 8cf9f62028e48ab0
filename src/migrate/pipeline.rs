//! The migration against its two seams ([`HttpState`], [`ObjectStore`]): the steps in order, each
//! recorded in the report, both locks released on every path.

use std::future::Future;

use super::report::{Interrupt, LockStatus, Outcome, Replaced, Report, Step};
use super::tfstate::{self, Verdict};
use super::{Job, MigrateError, fail};
use crate::exit::Refused;
use crate::httpstate::{HttpState, HttpStateError, LockRecord};
use crate::s3state::{self, ObjectStore, Precondition, S3StateError};
use hyper::body::Bytes;

/// `fut`, unless a signal arrives first (for steps whose cancellation changes nothing).
async fn cancellable<T>(
    interrupt: &Interrupt,
    fut: impl Future<Output = Result<T, MigrateError>>,
) -> Result<T, MigrateError> {
    tokio::select! {
        r = fut => r,
        s = interrupt.wait() => Err(MigrateError::Interrupted(s)),
    }
}

fn check(interrupt: &Interrupt) -> Result<(), MigrateError> {
    interrupt.fired().map_or(Ok(()), |s| Err(MigrateError::Interrupted(s)))
}

/// The whole migration against the two seams; every step lands in `report`.
pub async fn migrate<H: HttpState, S: ObjectStore>(
    http: &H,
    s3: &S,
    job: &Job,
    report: &mut Report,
    interrupt: &Interrupt,
) -> Result<(), MigrateError> {
    if job.dry_run {
        report.skip(Step::HttpLock, "the dry run takes no lock (a state locked now is not seen)");
        return under_http_lock(http, s3, job, report, interrupt).await;
    }
    fail(report, Step::HttpLock, check(interrupt))?;
    match http.lock(&job.http_lock).await {
        Ok(()) => {
            report.http_lock = LockStatus::Held;
            report.pass(Step::HttpLock, format!("locked `{}` (lock id `{}`)", job.from, job.http_lock.id));
        }
        Err(e) => {
            let uncertain = e.may_have_taken_effect();
            let e = match e {
                HttpStateError::Locked { holder, .. } => Refused::new(
                    Step::HttpLock.name(),
                    format!(
                        "the HTTP state `{}` is locked by {}: a tofu run may be writing it; retry when it is done",
                        job.from,
                        holder.map_or_else(|| "someone (the server did not say who)".into(), |h| h.describe())
                    ),
                )
                .into(),
                other => MigrateError::from(other),
            };
            report.record(Step::HttpLock, e.outcome(), e.detail());
            if uncertain {
                // No answer: the lock may be held by gf all the same. Release it to be sure.
                report.http_lock = LockStatus::Held;
                let _ = release_http(http, job, report).await;
            }
            return Err(e);
        }
    }
    let result = under_http_lock(http, s3, job, report, interrupt).await;
    let released = release_http(http, job, report).await;
    // The first failure is the one to report; a failed unlock after a good run is one too.
    result.and(released)
}

async fn release_http<H: HttpState>(http: &H, job: &Job, report: &mut Report) -> Result<(), MigrateError> {
    match http.unlock(&job.http_lock).await {
        Ok(()) => {
            report.http_lock = LockStatus::Released;
            report.pass(Step::HttpUnlock, format!("unlocked `{}`", job.from));
            Ok(())
        }
        Err(e) => {
            let e = MigrateError::from(e);
            report.record(Step::HttpUnlock, Outcome::Error, e.to_string());
            Err(e)
        }
    }
}

async fn under_http_lock<H: HttpState, S: ObjectStore>(
    http: &H,
    s3: &S,
    job: &Job,
    report: &mut Report,
    interrupt: &Interrupt,
) -> Result<(), MigrateError> {
    let got = cancellable(interrupt, async { http.get().await.map_err(MigrateError::from) }).await;
    let Some(bytes) = fail(report, Step::HttpRead, got)? else {
        return fail(report, Step::HttpRead, Err(MigrateError::NoState { url: job.from.clone() }));
    };
    // Shared, not copied, by the write (a state can be tens of megabytes).
    let bytes = Bytes::from(bytes);
    report.pass(Step::HttpRead, format!("{} bytes from `{}`", bytes.len(), job.from));
    let summary = fail(
        report,
        Step::HttpState,
        tfstate::inspect(&bytes).map_err(|reason| MigrateError::NotAState { url: job.from.clone(), reason }),
    )?;
    report.pass(
        Step::HttpState,
        format!(
            "version {}, serial {}, lineage `{}`, {} resources, written by {}",
            summary.version, summary.serial, summary.lineage, summary.resources, summary.terraform_version
        ),
    );
    report.state = Some(summary);
    let lock_key = s3state::lock_key(&job.key);
    if job.dry_run {
        let held = cancellable(interrupt, async { s3.get(&lock_key).await.map_err(MigrateError::from) }).await;
        if let Some(lock) = fail(report, Step::S3Lock, held)? {
            return fail(report, Step::S3Lock, Err(held_refusal(s3, &lock_key, &lock.bytes)));
        }
        report.skip(Step::S3Lock, format!("no `{lock_key}` now; the real run creates it"));
        return under_both_locks(s3, job, &bytes, report, interrupt).await;
    }
    fail(report, Step::S3Lock, check(interrupt))?;
    match s3.put(&lock_key, Bytes::from(job.s3_lock.to_json()), &Precondition::Absent).await {
        Ok(_) => {
            report.s3_lock = LockStatus::Held;
            report.pass(Step::S3Lock, format!("created `{lock_key}` (`If-None-Match: *`)"));
        }
        Err(S3StateError::PreconditionFailed { .. }) => {
            let holder = s3.get(&lock_key).await.ok().flatten().map(|o| o.bytes).unwrap_or_default();
            return fail(report, Step::S3Lock, Err(held_refusal(s3, &lock_key, &holder)));
        }
        Err(e) => {
            report.record(Step::S3Lock, Outcome::Error, e.to_string());
            // Maybe created all the same: release it if it is gf's.
            report.s3_lock = LockStatus::Held;
            let _ = release_s3(s3, job, report).await;
            return Err(e.into());
        }
    }
    let result = under_both_locks(s3, job, &bytes, report, interrupt).await;
    if report.s3_lock == LockStatus::Held && !matches!(result, Err(MigrateError::ReadBack { .. })) {
        let released = release_s3(s3, job, report).await;
        return result.and(released);
    }
    result
}

fn held_refusal<S: ObjectStore>(s3: &S, lock_key: &str, bytes: &[u8]) -> MigrateError {
    let holder = serde_json::from_slice::<LockRecord>(bytes)
        .map_or_else(|_| "someone (not tofu's lock JSON)".into(), |h| h.describe());
    Refused::new(
        Step::S3Lock.name(),
        format!(
            "`s3://{}/{lock_key}` is held by {holder}: a tofu run may be writing this state; retry when it is done (`gf state` shows the lock)",
            s3.location().bucket
        ),
    )
    .into()
}

async fn release_s3<S: ObjectStore>(s3: &S, job: &Job, report: &mut Report) -> Result<(), MigrateError> {
    let lock_key = s3state::lock_key(&job.key);
    let bucket = s3.location().bucket.clone();
    let result = async {
        let Some(lock) = s3.get(&lock_key).await? else { return Ok(false) };
        match serde_json::from_slice::<LockRecord>(&lock.bytes) {
            Ok(l) if l.id == job.s3_lock.id => {
                s3.delete(&lock_key).await?;
                Ok(true)
            }
            Ok(l) => {
                Err(MigrateError::LockTaken { bucket: bucket.clone(), key: lock_key.clone(), holder: l.describe() })
            }
            Err(_) => Err(MigrateError::LockTaken {
                bucket: bucket.clone(),
                key: lock_key.clone(),
                holder: "not tofu's lock JSON".into(),
            }),
        }
    }
    .await;
    match result {
        Ok(existed) => {
            report.s3_lock = LockStatus::Released;
            report.pass(
                Step::S3Unlock,
                if existed { format!("deleted `{lock_key}`") } else { format!("no `{lock_key}` left") },
            );
            Ok(())
        }
        Err(e) => {
            if matches!(e, MigrateError::LockTaken { .. }) {
                report.s3_lock = LockStatus::Released;
            }
            report.record(Step::S3Unlock, Outcome::Error, e.to_string());
            Err(e)
        }
    }
}

async fn under_both_locks<S: ObjectStore>(
    s3: &S,
    job: &Job,
    bytes: &Bytes,
    report: &mut Report,
    interrupt: &Interrupt,
) -> Result<(), MigrateError> {
    let Some(summary) = report.state.clone() else { return Ok(()) };
    let existing = cancellable(interrupt, async { s3.get(&job.key).await.map_err(MigrateError::from) }).await;
    let existing = fail(report, Step::ExistingState, existing)?;
    let verdict =
        tfstate::verdict(existing.as_ref().map(|o| (o.bytes.as_slice(), o.etag.as_deref())), bytes, &summary, job.yes);
    let object = format!("s3://{}/{}", s3.location().bucket, job.key);
    let condition = match verdict {
        Verdict::Create => {
            report.pass(Step::ExistingState, format!("no object at `{object}`"));
            Precondition::Absent
        }
        Verdict::Replace { etag, serial } => {
            report.pass(
                Step::ExistingState,
                format!("serial {serial} of the same lineage at `{object}`: replaced (`--yes`)"),
            );
            report.replaced = Some(Replaced { serial, etag: etag.clone() });
            Precondition::Etag(etag)
        }
        Verdict::Refuse(why) => {
            return fail(
                report,
                Step::ExistingState,
                Err(Refused::new(Step::ExistingState.name(), format!("`{object}`: {why}")).into()),
            );
        }
    };
    if job.dry_run {
        report.skip(
            Step::S3Write,
            format!("would write {} bytes to `{object}` with {}", bytes.len(), condition.header()),
        );
        report.skip(Step::ReadBack, "nothing written");
        return Ok(());
    }
    fail(report, Step::S3Write, check(interrupt))?;
    let written = match s3.put(&job.key, bytes.clone(), &condition).await {
        Ok(etag) => etag,
        Err(e @ S3StateError::PreconditionFailed { .. }) => {
            let why = format!("{e}: something wrote it without taking `{}.tflock`; nothing was overwritten", job.key);
            return fail(report, Step::S3Write, Err(Refused::new(Step::S3Write.name(), why).into()));
        }
        Err(e) => return fail(report, Step::S3Write, Err(e.into())),
    };
    report.pass(Step::S3Write, format!("wrote {} bytes to `{object}` with {}", bytes.len(), condition.header()));
    let back = s3.get(&job.key).await;
    let found = match &back {
        Ok(Some(o)) if o.bytes == bytes[..] => {
            report.etag = o.etag.clone().or(written);
            report.pass(Step::ReadBack, format!("{} bytes, identical (sha256 {})", bytes.len(), summary.sha256));
            return Ok(());
        }
        Ok(Some(o)) => format!("{} different bytes", o.bytes.len()),
        Ok(None) => "nothing".into(),
        Err(e) => format!("nothing readable ({e})"),
    };
    let e = MigrateError::ReadBack {
        bucket: s3.location().bucket.clone(),
        key: job.key.clone(),
        found,
        size: bytes.len(),
        sha256: summary.sha256,
    };
    fail(report, Step::ReadBack, Err(e))
}
