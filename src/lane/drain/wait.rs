//! Waiting until no EphemeralRunner of the drained sets has a job.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::contract::Lane;
use crate::lane::{Cluster, LaneError, LaneOptions};
use crate::ui;

/// Busy EphemeralRunners per set.
async fn busy_counts<C: Cluster>(c: &C, ns: &str, sets: &[String]) -> Result<Vec<(String, usize)>, LaneError> {
    let mut out = Vec::new();
    for s in sets {
        let busy = c.runners(ns, s).await?.iter().filter(|r| r.busy()).count();
        out.push((s.clone(), busy));
    }
    Ok(out)
}

fn jobs(n: usize) -> String {
    format!("{n} busy job{} left", if n == 1 { "" } else { "s" })
}

/// Wait until no EphemeralRunner of `sets` has a job; Err(Timeout) after `timeout`.
pub async fn wait_idle<C: Cluster>(
    c: &C,
    lane: &Lane,
    sets: &[String],
    opts: &LaneOptions,
    timeout: Duration,
) -> Result<Duration, LaneError> {
    let ns = &lane.drain.namespace;
    let start = Instant::now();
    let bars: Option<(indicatif::MultiProgress, BTreeMap<String, indicatif::ProgressBar>)> = opts.progress.then(|| {
        let multi = indicatif::MultiProgress::new();
        let style = indicatif::ProgressStyle::with_template("{spinner} {prefix:.bold} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
        let bars = sets
            .iter()
            .map(|s| {
                let bar = multi.add(indicatif::ProgressBar::new_spinner().with_style(style.clone()));
                bar.set_prefix(s.clone());
                bar.set_message("checking for jobs");
                bar.enable_steady_tick(Duration::from_millis(120));
                (s.clone(), bar)
            })
            .collect();
        (multi, bars)
    });
    let mut last: Option<Vec<(String, usize)>> = None;
    loop {
        let counts = busy_counts(c, ns, sets).await?;
        let total: usize = counts.iter().map(|(_, n)| n).sum();
        if let Some((_, bars)) = &bars {
            for (s, n) in &counts {
                if let Some(bar) = bars.get(s) {
                    if *n == 0 {
                        bar.finish_with_message("no job left");
                    } else {
                        bar.set_message(jobs(*n));
                    }
                }
            }
        } else if last.as_ref() != Some(&counts) && total > 0 && !opts.quiet {
            let busy: Vec<String> =
                counts.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("`{s}`: {}", jobs(*n))).collect();
            ui::note(&format!("waiting for jobs on drained sets: {}", busy.join(", ")));
        }
        if total == 0 {
            if let Some((_, bars)) = &bars {
                bars.values().for_each(indicatif::ProgressBar::finish);
            }
            return Ok(start.elapsed());
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            if let Some((_, bars)) = &bars {
                bars.values().for_each(indicatif::ProgressBar::abandon);
            }
            return Err(LaneError::Timeout {
                after: timeout,
                busy: counts.into_iter().filter(|(_, n)| *n > 0).collect(),
            });
        }
        last = Some(counts);
        tokio::time::sleep(opts.poll.min(timeout.saturating_sub(elapsed))).await;
    }
}
