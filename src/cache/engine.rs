//! Checking store paths against a cache: bounded concurrency, each path once, `--closure`
//! following References as narinfos arrive.

use std::collections::{HashMap, HashSet, VecDeque};

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use super::client::{BinaryCache, FetchError};
use super::narinfo::NarInfo;
use super::signature::{TrustedKeys, Verdict};
use super::storepath::StorePath;

/// SPEC's status of one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Signed by a trusted key.
    Present,
    /// 404.
    Missing,
    /// No signature by a trusted key.
    Untrusted,
    /// A trusted key's signature that does not verify.
    InvalidSignature,
    /// Anything else.
    Error,
}

impl Status {
    /// As SPEC spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Present => "present",
            Self::Missing => "missing",
            Self::Untrusted => "untrusted",
            Self::InvalidSignature => "invalid-signature",
            Self::Error => "error",
        }
    }
}

/// One checked path.
#[derive(Debug, Clone, Serialize)]
pub struct PathResult {
    /// The full store path.
    pub path: String,
    /// Its status.
    pub status: Status,
    /// Why, for every status but `present`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Counts per status.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Summary {
    /// `present`.
    pub present: usize,
    /// `missing`.
    pub missing: usize,
    /// `untrusted`.
    pub untrusted: usize,
    /// `invalid-signature`.
    pub invalid_signature: usize,
    /// `error`.
    pub error: usize,
}

impl Summary {
    /// Count `results`.
    pub fn of(results: &[PathResult]) -> Self {
        let mut s = Self::default();
        for r in results {
            *match r.status {
                Status::Present => &mut s.present,
                Status::Missing => &mut s.missing,
                Status::Untrusted => &mut s.untrusted,
                Status::InvalidSignature => &mut s.invalid_signature,
                Status::Error => &mut s.error,
            } += 1;
        }
        s
    }

    /// Paths counted.
    pub fn total(&self) -> usize {
        self.present + self.missing + self.untrusted + self.invalid_signature + self.error
    }

    /// `3 present, 1 missing` (zero counts left out).
    pub fn describe(&self) -> String {
        let parts: Vec<String> = [
            (self.present, "present"),
            (self.missing, "missing"),
            (self.untrusted, "untrusted"),
            (self.invalid_signature, "invalid-signature"),
            (self.error, "error"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, s)| format!("{n} {s}"))
        .collect();
        if parts.is_empty() { "nothing checked".into() } else { parts.join(", ") }
    }
}

/// What the check needs besides the cache.
pub struct Options<'a> {
    /// Keys a `present` path must be signed by.
    pub trusted: &'a TrustedKeys,
    /// Follow References recursively.
    pub closure: bool,
    /// Requests in flight at most.
    pub jobs: usize,
    /// Hash parts the cache already said it lacks (`get-missing-paths`).
    pub known_missing: &'a HashSet<String>,
    /// Called with (paths done, paths known) as results arrive.
    pub progress: &'a (dyn Fn(usize, usize) + Sync),
}

/// Check `roots` (and with `closure` every reference, recursively), each path once. Results:
/// the roots in the given order, then paths reached only through references, sorted.
pub async fn check<C: BinaryCache>(cache: &C, roots: &[StorePath], opts: &Options<'_>) -> Vec<PathResult> {
    let mut seen: HashSet<String> = HashSet::with_capacity(roots.len());
    let mut queue: VecDeque<StorePath> = VecDeque::with_capacity(roots.len());
    for p in roots {
        if seen.insert(p.base_name().to_string()) {
            queue.push_back(p.clone());
        }
    }
    let root_order: Vec<String> = queue.iter().map(|p| p.base_name().to_string()).collect();
    let mut results: HashMap<String, PathResult> = HashMap::with_capacity(queue.len());
    let mut inflight = FuturesUnordered::new();
    let jobs = opts.jobs.max(1);
    loop {
        while inflight.len() < jobs
            && let Some(p) = queue.pop_front()
        {
            if opts.known_missing.contains(p.hash()) {
                let r = PathResult {
                    path: p.to_string(),
                    status: Status::Missing,
                    reason: Some("reported missing by `get-missing-paths`".into()),
                };
                results.insert(p.base_name().to_string(), r);
                continue;
            }
            inflight.push(async move {
                let fetched = cache.narinfo(p.hash()).await;
                (p, fetched)
            });
        }
        (opts.progress)(results.len(), seen.len());
        let Some((path, fetched)) = inflight.next().await else { break };
        let (result, refs) = judge(&path, fetched, opts.trusted);
        if opts.closure {
            for r in refs {
                if seen.insert(r.base_name().to_string()) {
                    queue.push_back(r);
                }
            }
        }
        results.insert(path.base_name().to_string(), result);
    }
    (opts.progress)(results.len(), seen.len());
    let mut out = Vec::with_capacity(results.len());
    for base in &root_order {
        if let Some(r) = results.remove(base) {
            out.push(r);
        }
    }
    let mut rest: Vec<PathResult> = results.into_values().collect();
    rest.sort_by(|a, b| a.path.cmp(&b.path));
    out.extend(rest);
    out
}

/// The status of one path from its fetched narinfo, and its references.
fn judge(
    path: &StorePath,
    fetched: Result<Option<String>, FetchError>,
    trusted: &TrustedKeys,
) -> (PathResult, Vec<StorePath>) {
    let result = |status, reason: Option<String>| PathResult { path: path.to_string(), status, reason };
    let text = match fetched {
        Ok(Some(t)) => t,
        Ok(None) => return (result(Status::Missing, Some("no narinfo (404)".into())), vec![]),
        Err(e) => return (result(Status::Error, Some(e.to_string())), vec![]),
    };
    let info = match NarInfo::parse(&text) {
        Ok(i) => i,
        Err(e) => return (result(Status::Error, Some(format!("malformed narinfo: {e}"))), vec![]),
    };
    if info.store_path != *path {
        let reason = format!("the narinfo describes `{}`, not this path", info.store_path);
        return (result(Status::Error, Some(reason)), vec![]);
    }
    let r = match trusted.verify(&info.fingerprint(), &info.sigs) {
        Verdict::Trusted { .. } => result(Status::Present, None),
        Verdict::Invalid { key } => result(
            Status::InvalidSignature,
            Some(format!("the signature by `{key}` does not verify over the narinfo's fingerprint")),
        ),
        Verdict::Untrusted { signers } => {
            let by = if signers.is_empty() {
                "no signatures".to_string()
            } else {
                format!("signed only by {}", signers.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))
            };
            let ca = if info.ca.is_some() { " (content-addressed: Nix itself would accept it unsigned)" } else { "" };
            result(Status::Untrusted, Some(format!("{by}, trusted: {}{ca}", trusted.names())))
        }
    };
    (r, info.references)
}
