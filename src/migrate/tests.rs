//! The migration pipeline against an in-memory HTTP state and object store: the order of every
//! call, and the locks released on every path.

use std::sync::Mutex;
use std::time::Duration;

use hyper::StatusCode;

use super::report::{self, Interrupt, LockStatus, Outcome, Report, Signal};
use super::*;
use crate::httpstate::HttpState;
use crate::s3state::MemStore;
use crate::s3state::ObjectStore as _;

const KEY: &str = "web/terraform.tfstate";
const LOCK: &str = "web/terraform.tfstate.tflock";

fn state(serial: u64, lineage: &str) -> Vec<u8> {
    serde_json::to_vec_pretty(&serde_json::json!({
        "version": 4, "terraform_version": "1.11.4", "serial": serial, "lineage": lineage, "outputs": {},
        "resources": [{"mode": "managed", "type": "terraform_data", "name": "a", "instances": [{}]}]
    }))
    .unwrap()
}

/// How the fake answers a lock request.
#[derive(Clone, Copy)]
enum LockAnswer {
    Ok,
    Locked,
    Timeout,
    Unauthorized,
}

struct FakeHttp {
    calls: Mutex<Vec<&'static str>>,
    lock: LockAnswer,
    body: Option<Vec<u8>>,
    unlock_fails: bool,
    /// Fire this signal while the `GET` is in flight.
    signal_on_get: Option<tokio::sync::watch::Sender<Option<Signal>>>,
}

impl FakeHttp {
    fn with(body: Option<Vec<u8>>) -> Self {
        Self { calls: Mutex::default(), lock: LockAnswer::Ok, body, unlock_fails: false, signal_on_get: None }
    }

    fn calls(&self) -> Vec<&'static str> {
        self.calls.lock().unwrap().clone()
    }

    fn error(status: StatusCode) -> HttpStateError {
        HttpStateError::Status { method: "X".into(), url: "u".into(), status, body: String::new(), hint: "" }
    }
}

impl HttpState for FakeHttp {
    async fn lock(&self, _: &LockRecord) -> Result<(), HttpStateError> {
        self.calls.lock().unwrap().push("lock");
        match self.lock {
            LockAnswer::Ok => Ok(()),
            LockAnswer::Locked => Err(HttpStateError::Locked {
                method: "LOCK".into(),
                url: "u".into(),
                status: StatusCode::LOCKED,
                holder: Some(Box::new(LockRecord { who: "alice@ci".into(), ..LockRecord::default() })),
            }),
            LockAnswer::Timeout => {
                Err(HttpStateError::Timeout { method: "LOCK".into(), url: "u".into(), after: Duration::from_secs(1) })
            }
            LockAnswer::Unauthorized => Err(HttpStateError::Unauthorized {
                method: "LOCK".into(),
                url: "u".into(),
                status: StatusCode::UNAUTHORIZED,
                credentials: true,
            }),
        }
    }

    async fn unlock(&self, _: &LockRecord) -> Result<(), HttpStateError> {
        self.calls.lock().unwrap().push("unlock");
        if self.unlock_fails { Err(Self::error(StatusCode::BAD_GATEWAY)) } else { Ok(()) }
    }

    async fn get(&self) -> Result<Option<Vec<u8>>, HttpStateError> {
        self.calls.lock().unwrap().push("get");
        if let Some(tx) = &self.signal_on_get {
            tx.send_replace(Some(Signal::Terminate));
            return std::future::pending().await;
        }
        Ok(self.body.clone())
    }
}

fn job(dry_run: bool, yes: bool) -> Job {
    let lock = LockRecord { id: "gf-lock-1".into(), operation: OPERATION.into(), ..LockRecord::default() };
    Job { key: KEY.into(), dry_run, yes, http_lock: lock.clone(), s3_lock: lock, from: "http://h/state/web".into() }
}

fn run(http: &FakeHttp, s3: &MemStore, job: &Job) -> (Result<(), MigrateError>, Report) {
    run_with(http, s3, job, &Interrupt::manual().0)
}

fn run_with(http: &FakeHttp, s3: &MemStore, job: &Job, i: &Interrupt) -> (Result<(), MigrateError>, Report) {
    let mut report = Report::new("web", "dev", job.dry_run, false);
    report.to = Some(target(s3.location(), KEY));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let r = rt.block_on(migrate(http, s3, job, &mut report, i));
    (r, report)
}

fn calls(s3: &MemStore) -> Vec<String> {
    s3.calls()
}

fn steps(r: &Report) -> Vec<(&'static str, Outcome)> {
    r.steps.iter().map(|s| (s.step.name(), s.outcome)).collect()
}

fn gate(r: &Result<(), MigrateError>) -> &'static str {
    match r {
        Err(MigrateError::Refused(x)) => x.gate,
        other => panic!("not a refusal: {other:?}"),
    }
}

#[test]
fn a_migration_locks_both_sides_writes_once_and_releases_both_in_order() {
    let bytes = state(4, "L");
    let http = FakeHttp::with(Some(bytes.clone()));
    let s3 = MemStore::new();
    let (r, report) = run(&http, &s3, &job(false, false));
    r.unwrap();
    assert_eq!(http.calls(), ["lock", "get", "unlock"]);
    assert_eq!(
        calls(&s3),
        [
            format!("put {LOCK}"),
            format!("get {KEY}"),
            format!("put {KEY}"),
            format!("get {KEY}"),
            format!("get {LOCK}"),
            format!("delete {LOCK}")
        ]
    );
    assert_eq!(s3.object(KEY).unwrap().bytes, bytes);
    assert!(s3.object(LOCK).is_none());
    let names: Vec<_> = report.steps.iter().map(|s| s.step).collect();
    assert_eq!(names, report::STEPS[3..], "every step after the set-up, in the declared order");
    assert!(report.steps.iter().all(|s| s.outcome == Outcome::Pass), "{:?}", steps(&report));
    assert_eq!((report.http_lock, report.s3_lock), (LockStatus::Released, LockStatus::Released));
    assert_eq!(report.state.as_ref().map(|s| (s.serial, s.lineage.as_str())), Some((4, "L")));
    assert!(report.etag.is_some());
}

#[test]
fn a_state_locked_by_someone_else_is_refused_and_their_lock_is_left_alone() {
    let http = FakeHttp { lock: LockAnswer::Locked, ..FakeHttp::with(Some(state(1, "L"))) };
    let s3 = MemStore::new();
    let (r, report) = run(&http, &s3, &job(false, false));
    assert_eq!(gate(&r), "http-lock");
    assert!(r.unwrap_err().to_string().contains("`alice@ci`"));
    assert_eq!(http.calls(), ["lock"], "never unlocks a lock it does not hold");
    assert!(calls(&s3).is_empty());
    assert_eq!(report.http_lock, LockStatus::NotTaken);
}

#[test]
fn a_lock_without_an_answer_is_released_to_be_sure_but_a_refused_one_is_not() {
    let http = FakeHttp { lock: LockAnswer::Timeout, ..FakeHttp::with(Some(state(1, "L"))) };
    let s3 = MemStore::new();
    let (r, report) = run(&http, &s3, &job(false, false));
    assert!(matches!(r, Err(MigrateError::Http(HttpStateError::Timeout { .. }))));
    assert_eq!(http.calls(), ["lock", "unlock"]);
    assert_eq!(report.http_lock, LockStatus::Released);
    let http = FakeHttp { lock: LockAnswer::Unauthorized, ..FakeHttp::with(Some(state(1, "L"))) };
    let (r, _) = run(&http, &s3, &job(false, false));
    assert!(matches!(r, Err(MigrateError::Http(HttpStateError::Unauthorized { .. }))));
    assert_eq!(http.calls(), ["lock"]);
    assert!(calls(&s3).is_empty());
}

#[test]
fn the_http_state_is_unlocked_after_every_failure_once_locked() {
    // Not a state, no state, S3 lock held, existing object, failing write, failing S3 lock.
    type Setup = Box<dyn Fn(&MemStore)>;
    let cases: Vec<(Option<Vec<u8>>, Setup, &str)> = vec![
        (Some(b"<html>sign in</html>".to_vec()), Box::new(|_| {}), "http-state"),
        (None, Box::new(|_| {}), "http-read"),
        (Some(state(2, "L")), Box::new(|s| s.put(LOCK, br#"{"ID":"x","Who":"bob@ci"}"#)), "s3-lock"),
        (Some(state(2, "L")), Box::new(|s| s.put(KEY, &state(2, "L"))), "existing-state"),
        (Some(state(2, "L")), Box::new(|s| s.failing_puts.lock().unwrap().push(KEY.into())), "s3-write"),
        (Some(state(2, "L")), Box::new(|s| s.failing_puts.lock().unwrap().push(LOCK.into())), "s3-lock"),
    ];
    for (body, setup, step) in cases {
        let http = FakeHttp::with(body);
        let s3 = MemStore::new();
        setup(&s3);
        let (r, report) = run(&http, &s3, &job(false, false));
        assert!(r.is_err(), "{step}");
        assert_eq!(http.calls().last(), Some(&"unlock"), "{step}: {:?}", http.calls());
        assert_eq!(report.http_lock, LockStatus::Released, "{step}");
        let failed = report.steps.iter().find(|s| matches!(s.outcome, Outcome::Refuse | Outcome::Error)).unwrap();
        assert_eq!(failed.step.name(), step, "{:?}", steps(&report));
        assert_ne!(report.s3_lock, LockStatus::Held, "{step}");
        if step == "s3-lock" && calls(&s3).iter().all(|c| c != &format!("delete {LOCK}")) {
            // A lock held by someone else stays exactly as it was.
            assert!(s3.object(LOCK).is_none_or(|o| o.bytes.starts_with(br#"{"ID":"x""#)));
        }
    }
}

#[test]
fn an_older_serial_of_the_same_lineage_is_replaced_only_with_yes_and_only_that_object() {
    let http = FakeHttp::with(Some(state(5, "L")));
    let s3 = MemStore::new();
    s3.put(KEY, &state(3, "L"));
    let etag = s3.object(KEY).unwrap().etag.unwrap();
    let (r, _) = run(&http, &s3, &job(false, false));
    assert_eq!(gate(&r), "existing-state");
    assert!(r.unwrap_err().to_string().contains("`--yes` replaces it"));
    assert_eq!(s3.object(KEY).unwrap().bytes, state(3, "L"));
    let (r, report) = run(&http, &s3, &job(false, true));
    r.unwrap();
    assert_eq!(s3.object(KEY).unwrap().bytes, state(5, "L"));
    assert_eq!(report.replaced.as_ref().map(|r| (r.serial, r.etag.clone())), Some((3, etag)));
    assert!(s3.object(LOCK).is_none());
}

#[test]
fn a_read_back_that_differs_keeps_the_s3_lock_and_unlocks_the_http_state() {
    let http = FakeHttp::with(Some(state(2, "L")));
    let s3 = MemStore::new();
    *s3.tamper.lock().unwrap() = Some((KEY.into(), b"{}".to_vec()));
    let (r, report) = run(&http, &s3, &job(false, false));
    assert!(matches!(r, Err(MigrateError::ReadBack { .. })), "{r:?}");
    assert_eq!(report.s3_lock, LockStatus::Held);
    assert!(s3.object(LOCK).is_some(), "no tofu run may start on an unchecked object");
    assert_eq!(http.calls(), ["lock", "get", "unlock"]);
}

#[test]
fn a_failed_unlock_after_a_migration_is_an_error_that_says_the_lock_is_held() {
    let http = FakeHttp { unlock_fails: true, ..FakeHttp::with(Some(state(2, "L"))) };
    let s3 = MemStore::new();
    let (r, report) = run(&http, &s3, &job(false, false));
    assert!(matches!(r, Err(MigrateError::Http(_))));
    assert_eq!(report.http_lock, LockStatus::Held);
    assert_eq!(s3.object(KEY).unwrap().bytes, state(2, "L"), "the state itself was migrated");
    let code = finish(report.clone(), r, true);
    assert!(code.is_err());
}

#[test]
fn a_signal_while_reading_stops_before_any_s3_call_and_unlocks() {
    let (interrupt, tx) = Interrupt::manual();
    let http = FakeHttp { signal_on_get: Some(tx), ..FakeHttp::with(Some(state(2, "L"))) };
    let s3 = MemStore::new();
    let (r, report) = run_with(&http, &s3, &job(false, false), &interrupt);
    assert!(matches!(r, Err(MigrateError::Interrupted(Signal::Terminate))), "{r:?}");
    assert_eq!(http.calls(), ["lock", "get", "unlock"]);
    assert!(calls(&s3).is_empty());
    assert_eq!(report.http_lock, LockStatus::Released);
}

#[test]
fn the_dry_run_reads_both_sides_takes_no_lock_and_writes_nothing() {
    let http = FakeHttp::with(Some(state(2, "L")));
    let s3 = MemStore::new();
    let (r, report) = run(&http, &s3, &job(true, false));
    r.unwrap();
    assert_eq!(http.calls(), ["get"]);
    assert_eq!(calls(&s3), [format!("get {LOCK}"), format!("get {KEY}")]);
    assert!(s3.object(KEY).is_none() && s3.object(LOCK).is_none());
    assert_eq!(
        steps(&report),
        [
            ("http-lock", Outcome::Skip),
            ("http-read", Outcome::Pass),
            ("http-state", Outcome::Pass),
            ("s3-lock", Outcome::Skip),
            ("existing-state", Outcome::Pass),
            ("s3-write", Outcome::Skip),
            ("read-back", Outcome::Skip),
        ]
    );
    assert!(report.summary().starts_with("dry run: would migrate `web` (dev): serial 2"));
    // The same refusals as the real run.
    s3.put(KEY, &state(2, "other"));
    let (r, _) = run(&http, &s3, &job(true, true));
    assert_eq!(gate(&r), "existing-state");
    s3.put(LOCK, b"{}");
    let (r, _) = run(&http, &s3, &job(true, true));
    assert_eq!(gate(&r), "s3-lock");
    assert_eq!(http.calls(), ["get", "get", "get"]);
}
