//! `gf state <STACK>` (managed-state facts from S3) and `gf state unlock <STACK>`, the documented
//! way out of a state lock left behind by a crash.

use std::io::{BufRead as _, IsTerminal as _};

use serde::Serialize;

use crate::contract::{ContractError, Stack};
use crate::exit::{self, Refused};
use crate::lifecycle::work::{Work, WorkError};
use crate::s3state::{self, LockInfo, ObjectStore as _, S3Settings, S3StateError};
use crate::session::{Session, World};
use crate::{signals, ui};

/// Errors of `gf state` and `gf state unlock`.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The confirmation could not be read.
    #[error("cannot read the confirmation from the terminal: {0}")]
    Confirm(std::io::Error),
    /// A safety gate refused (exit 3).
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The stack or its state key is not in the contract.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The S3 settings, or a read or delete of the state or its lock.
    #[error(transparent)]
    Store(#[from] S3StateError),
    /// The local lock of the stack.
    #[error(transparent)]
    Work(#[from] WorkError),
    /// The JSON document.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

impl exit::Refusal for StateError {
    fn refusal(&self) -> Option<&Refused> {
        if let Self::Refused(r) = self { Some(r) } else { None }
    }
}

/// `gf state <STACK>`: serial, lineage, resources, size, ETag, last modified and the held lock.
pub async fn show<W: World>(s: &Session<W>, stack: &str, json: bool) -> Result<u8, StateError> {
    let stack = s.contract.stack(stack)?;
    let key = stack.state_key(&s.env)?;
    crate::context::ContextStatus::of(&s.environment, &s.vars).report(&s.env, "gf state");
    let settings = S3Settings::from_lookup(s.vars.lookup(), &s.contract.backend.region)?;
    let store = s.world.store(&settings);
    let f = Box::pin(s3state::facts(&store, key)).await?;
    if json {
        let mut v = serde_json::to_value(&f)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("stack".into(), stack.name.clone().into());
            o.insert("env".into(), s.env.clone().into());
        }
        ui::print_json(&v)?;
        return Ok(exit::OK);
    }
    let dash = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let mut rows = vec![
        vec!["stack".into(), stack.name.clone()],
        vec!["env".into(), s.env.clone()],
        vec!["object".into(), format!("s3://{}/{}", f.bucket, f.key)],
        vec!["endpoint".into(), f.endpoint.clone()],
        vec!["exists".into(), if f.exists { "yes".into() } else { "no (no state at this key)".into() }],
    ];
    if f.exists {
        rows.extend([
            vec!["serial".into(), dash(f.serial.map(|s| s.to_string()))],
            vec!["lineage".into(), dash(f.lineage.clone())],
            vec!["resources".into(), format!("{} ({} instances)", f.resources.unwrap_or(0), f.instances.unwrap_or(0))],
            vec!["size".into(), dash(f.size.map(|s| format!("{s} bytes")))],
            vec!["last modified".into(), dash(f.last_modified.clone())],
            vec!["etag".into(), dash(f.etag.clone())],
            vec!["written by".into(), dash(f.terraform_version.clone())],
        ]);
    }
    rows.push(vec!["lock".into(), f.lock.as_ref().map_or_else(|| "none".into(), describe)]);
    ui::out_raw(&ui::table(&["fact", "value"], &rows));
    Ok(exit::OK)
}

fn describe(l: &LockInfo) -> String {
    format!("held by {} ({}) since {}, id {}", l.who, l.operation, l.since, l.id)
}

/// What `gf state unlock` did.
#[derive(Debug, Serialize)]
struct Unlocked {
    stack: String,
    env: String,
    object: String,
    /// The lock that was removed (null: there was none).
    removed: Option<LockInfo>,
}

/// `gf state unlock <STACK> [--yes]`: remove `<key>.tflock` after showing who holds it. Refused in
/// CI even with `--yes` (a CI job cannot know that no apply is running), without `--yes` off a
/// terminal, while a gf run in this checkout holds the stack, and when the lock changes between
/// showing it and removing it.
pub async fn unlock<W: World>(s: &Session<W>, stack: &str, yes: bool, json: bool) -> Result<u8, StateError> {
    let stack = s.contract.stack(stack)?;
    let key = stack.state_key(&s.env)?;
    let lock_key = s3state::lock_key(key);
    if s.ci {
        return Err(Refused::new(
            "unlock",
            format!(
                "`CI=true`: a CI job cannot know that no apply of `{}` is running; unlock it from an operator's terminal",
                stack.name
            ),
        )
        .into());
    }
    let work = Work::new(s.root(), &s.env, &stack.name);
    // A gf run in this checkout that holds the stack is running tofu, which holds the S3 lock.
    let _local = work.lock(&stack.name, &s.env, "gf state unlock", std::time::Duration::ZERO)?;
    let settings = S3Settings::from_lookup(s.vars.lookup(), &s.contract.backend.region)?;
    let store = s.world.store(&settings);
    let object = format!("s3://{}/{lock_key}", settings.location.bucket);
    let Some(held) = store.get(&lock_key).await? else {
        return report(json, &Unlocked { stack: stack.name.clone(), env: s.env.clone(), object, removed: None });
    };
    let facts = Box::pin(s3state::facts(&store, key)).await?;
    let info = facts.lock.clone().unwrap_or_else(|| s3state::parse_lock(&held.bytes, held.last_modified.clone()));
    ui::warn(&format!("`{object}` is {}", describe(&info)));
    confirm(stack, yes).await?;
    // Remove only the lock that was shown: a new apply may have taken a new one meanwhile.
    match store.get(&lock_key).await? {
        Some(now) if now.bytes == held.bytes => {}
        Some(_) => {
            return Err(Refused::new(
                "unlock",
                format!("the lock at `{object}` changed since it was shown (another run took it); nothing removed"),
            )
            .into());
        }
        None => {
            ui::note(&format!("`{object}` was released meanwhile; nothing to remove"));
            return report(json, &Unlocked { stack: stack.name.clone(), env: s.env.clone(), object, removed: None });
        }
    }
    store.delete(&lock_key).await?;
    report(json, &Unlocked { stack: stack.name.clone(), env: s.env.clone(), object, removed: Some(info) })
}

fn report(json: bool, u: &Unlocked) -> Result<u8, StateError> {
    if json {
        ui::print_json(u)?;
    } else {
        match &u.removed {
            Some(l) => crate::outln!("removed `{}` (was {})", u.object, describe(l)),
            None => crate::outln!("no lock at `{}`: nothing to unlock", u.object),
        }
    }
    Ok(exit::OK)
}

async fn confirm(stack: &Stack, yes: bool) -> Result<(), StateError> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Refused::new(
            "unlock",
            format!("removing the state lock of `{}` needs `--yes` or an interactive confirmation", stack.name),
        )
        .into());
    }
    ui::err_raw(&format!(
        "remove this lock? only do so when no apply of `{}` is running anywhere; type the stack name to confirm: ",
        stack.name
    ));
    let read = tokio::task::spawn_blocking(|| {
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer).map(|_| answer)
    });
    let answer = tokio::select! {
        a = read => a.map_err(std::io::Error::other).and_then(|a| a).map_err(StateError::Confirm)?,
        sig = signals::any() => {
            return Err(Refused::new("unlock", format!("{} at the prompt; nothing removed", sig.name())).into());
        }
    };
    if answer.trim() == stack.name {
        Ok(())
    } else {
        Err(Refused::new("unlock", format!("confirmation did not match `{}`; nothing removed", stack.name)).into())
    }
}
