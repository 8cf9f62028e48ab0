//! `gf cache check`: the store paths asked for, checked through a
//! [`BinaryCache`](super::client::BinaryCache), reported for a terminal or as JSON.

use std::path::Path;

use serde::Serialize;

use super::engine::{self, PathResult, Status, Summary};
use super::storepath::StorePath;
use super::{CacheError, Overrides, Settings};
use crate::contract::{Contract, Environment, Stack};
use crate::exit;
use crate::nix::STORE_DIR;
use crate::session::{Vars, World};
use crate::ui;

/// Parse store paths, collecting every malformed one with where it came from.
pub(super) fn parse_paths<'a>(
    items: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<Vec<StorePath>, CacheError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (origin, s) in items {
        match StorePath::parse(s) {
            Ok(p) => good.push(p),
            Err(e) => bad.push(format!("{origin}: {e}")),
        }
    }
    if bad.is_empty() { Ok(good) } else { Err(CacheError::Paths(bad)) }
}

/// Lines of a paths file: trimmed, blank lines and `#` comments skipped, with `file:line`.
fn path_lines(name: &str, text: &str) -> Vec<(String, String)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (format!("`{name}` line {}", i + 1), l.trim().to_string()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

pub(super) fn stack_paths(stack: &Stack) -> Vec<(String, String)> {
    stack.cache_paths.iter().map(|p| (format!("`{}` `cache_paths`", stack.manifest), p.clone())).collect()
}

/// A progress bar on a terminal; nothing otherwise.
fn progress_bar(what: &str, len: usize) -> indicatif::ProgressBar {
    if !ui::stderr_is_tty() || len == 0 {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// The `--json` document (SPEC "Attic cache gate").
#[derive(Debug, Serialize)]
pub struct Report {
    /// The endpoint checked.
    pub endpoint: String,
    /// The cache name.
    pub cache: String,
    /// `StoreDir` from `nix-cache-info`.
    pub store_dir: String,
    /// Every path checked.
    pub paths: Vec<PathResult>,
    /// Counts per status.
    pub summary: Summary,
}

/// Check `paths` in the cache `settings` names, through `world`'s client: availability first,
/// then each path.
pub async fn check_paths<W: World>(
    world: &W,
    settings: &Settings,
    paths: &[StorePath],
    closure: bool,
    jobs: usize,
) -> Result<Report, CacheError> {
    if jobs == 0 {
        return Err(CacheError::Jobs);
    }
    if !paths.is_empty() && settings.trusted.is_empty() {
        return Err(CacheError::NoTrustedKeys);
    }
    let cache = world.cache(settings, jobs)?;
    settings.availability(&cache).await?;
    settings.compare_public_key(&cache).await;
    let known_missing = settings.known_missing(&cache, paths).await;
    let bar = progress_bar(&format!("checking `{}`", settings.cache), paths.len());
    let progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let opts = engine::Options {
        trusted: &settings.trusted,
        closure,
        jobs,
        known_missing: &known_missing,
        progress: &progress,
    };
    let results = engine::check(&cache, paths, &opts).await;
    bar.finish_and_clear();
    let summary = Summary::of(&results);
    Ok(Report {
        endpoint: settings.endpoint.to_string(),
        cache: settings.cache.clone(),
        store_dir: STORE_DIR.to_string(),
        paths: results,
        summary,
    })
}

/// Options of `gf cache check`.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Flags that override `GF_ATTIC_*` and the contract.
    pub overrides: Overrides,
    /// `--paths FILE|-`.
    pub paths: Option<std::path::PathBuf>,
    /// `--stack S`: also that stack's `cache_paths`.
    pub stack: Option<String>,
    /// `--closure`.
    pub closure: bool,
    /// `--jobs`.
    pub jobs: usize,
    /// `--json`.
    pub json: bool,
}

/// `gf cache check`: `contract` (with the selected environment, if one resolves) when gf runs in a
/// repository; flags and `GF_ATTIC_*` suffice outside one.
pub async fn run_check<W: World>(
    world: &W,
    vars: &Vars,
    contract: Option<(&Contract, Option<(&str, &Environment)>)>,
    o: &CheckOptions,
) -> Result<u8, CacheError> {
    if let Some((_, Some((env, environment)))) = contract {
        crate::context::ContextStatus::of(environment, vars).report(env, "gf cache check");
    }
    let contract = contract.map(|(c, _)| c);
    let settings = Settings::resolve(&o.overrides, vars, contract.and_then(|c| c.attic.as_ref()))?;

    let mut items: Vec<(String, String)> = Vec::new();
    if let Some(file) = &o.paths {
        let (name, text) = if file == Path::new("-") {
            ("stdin".to_string(), std::io::read_to_string(std::io::stdin()))
        } else {
            (file.display().to_string(), std::fs::read_to_string(file))
        };
        let text = text.map_err(|cause| CacheError::ReadPaths { path: name.clone(), cause })?;
        items.extend(path_lines(&name, &text));
    }
    if let Some(name) = &o.stack {
        let c = contract.ok_or(CacheError::StackWithoutContract)?;
        items.extend(stack_paths(c.stack(name)?));
    }
    let paths = parse_paths(items.iter().map(|(o, p)| (o.clone(), p.as_str())))?;

    let report = check_paths(world, &settings, &paths, o.closure, o.jobs).await?;
    let ok = report.summary.total() == report.summary.present;
    if o.json {
        ui::print_json(&report)?;
    } else {
        print_human(&report);
    }
    Ok(if ok { exit::OK } else { exit::ERROR })
}

fn print_human(report: &Report) {
    let problems: Vec<Vec<String>> = report
        .paths
        .iter()
        .filter(|r| r.status != Status::Present)
        .map(|r| vec![r.status.as_str().to_string(), r.path.clone(), r.reason.clone().unwrap_or_default()])
        .collect();
    if !problems.is_empty() {
        ui::out_raw(&ui::table(&["status", "path", "reason"], &problems));
    }
    let s = &report.summary;
    let place = format!("cache `{}` at `{}`", report.cache, report.endpoint);
    if s.total() == 0 {
        crate::outln!("ok: {place} answers (StoreDir `{}`); no paths asked for", report.store_dir);
    } else if s.total() == s.present {
        crate::outln!("ok: {place}: all {} path{} present", s.total(), if s.total() == 1 { "" } else { "s" });
    } else {
        crate::outln!("{place}: {} path{}: {}", s.total(), if s.total() == 1 { "" } else { "s" }, s.describe());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_files_skip_comments_and_name_lines() {
        let lines = path_lines("f", "# c\n\n  /nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b  \n/tmp/x\n");
        let err = parse_paths(lines.iter().map(|(o, p)| (o.clone(), p.as_str()))).unwrap_err().to_string();
        assert!(err.contains("`f` line 4: `/tmp/x` is not in the Nix store"), "{err}");
        assert!(!err.contains("line 3"), "{err}");
    }
}
