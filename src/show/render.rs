//! The report for a terminal and as Markdown for a pull-request comment.

use std::fmt::Write as _;

use super::{Action, AttrChange, Report, ResourceChange, Shown, Summary};

/// GitHub's limit for a comment body.
pub const COMMENT_LIMIT: usize = 65_536;
/// A resource diff longer than this many lines is collapsed in Markdown.
const COLLAPSE_LINES: usize = 12;

/// The report for a terminal.
pub fn human(r: &Report) -> String {
    let mut s = String::new();
    let m = &r.meta;
    let _ = writeln!(
        s,
        "gf show {} (env `{}`): {}plan from {}{}, against {}, git {}, tofu {}",
        m.stack,
        m.env,
        if m.destroy { "destroy " } else { "" },
        m.created,
        m.age.as_deref().map(|a| format!(" ({a} ago)")).unwrap_or_default(),
        m.state_serial.map_or_else(|| "no state".into(), |n| format!("state serial {n}")),
        m.git_revision.as_deref().map_or("-", |g| &g[..g.len().min(12)]),
        m.tofu_version
    );
    if let Some(why) = &m.stale {
        let _ = writeln!(s, "STALE: `gf apply` would refuse this plan: {why}");
    }
    for rc in &r.resources {
        let _ = writeln!(s, "  {} {} ({}){}", rc.action.symbol(), rc.address, rc.action.word(), reason(rc));
        for a in &rc.attributes {
            let _ = writeln!(s, "      {}", attr_line(a));
        }
    }
    if !r.outputs.is_empty() {
        let _ = writeln!(s, "outputs:");
        for o in &r.outputs {
            let _ = writeln!(s, "  {} {}: {} → {}", o.action.symbol(), o.name, o.before.text(), o.after.text());
        }
    }
    let _ = writeln!(s, "{}", summary_line(&r.summary));
    s
}

fn reason(rc: &ResourceChange) -> String {
    rc.reason.as_deref().map(|r| format!(" [{}]", r.replace('_', " "))).unwrap_or_default()
}

pub(super) fn attr_line(a: &AttrChange) -> String {
    let mut line = match (&a.before, &a.after) {
        (Shown::Absent, after) => format!("{} = {}", a.path, after.text()),
        (before, Shown::Absent) => format!("{} = {} → (none)", a.path, before.text()),
        (before, after) => format!("{}: {} → {}", a.path, before.text(), after.text()),
    };
    if a.forces_replacement {
        line.push_str("  # forces replacement");
    }
    line
}

fn summary_line(s: &Summary) -> String {
    let mut line = format!("Plan: {} to add, {} to change, {} to destroy", s.add, s.change, s.destroy);
    if s.replace > 0 {
        let _ = write!(line, " ({} replaced)", s.replace);
    }
    line
}

/// The report as Markdown for a pull-request comment, at most `limit` characters.
pub fn markdown(r: &Report, limit: usize) -> String {
    let m = &r.meta;
    let mut head = String::new();
    let _ = writeln!(head, "### gf {}plan: `{}` in `{}`\n", if m.destroy { "destroy " } else { "" }, m.stack, m.env);
    let _ = writeln!(head, "**{}**\n", summary_line(&r.summary));
    if let Some(why) = &m.stale {
        let _ = writeln!(head, "> [!WARNING]\n> `gf apply` would refuse this plan: {why}\n");
    }
    let _ = writeln!(head, "| plan | state serial | git | tofu |\n|---|---|---|---|");
    let _ = writeln!(
        head,
        "| {}{} | {} | {} | {} |\n",
        m.created,
        m.age.as_deref().map(|a| format!(" ({a} ago)")).unwrap_or_default(),
        m.state_serial.map_or_else(|| "none".into(), |n| n.to_string()),
        m.git_revision.as_deref().map_or_else(|| "-".to_string(), |g| format!("`{}`", &g[..g.len().min(12)])),
        m.tofu_version
    );
    let mut blocks: Vec<String> = r.resources.iter().map(resource_block).collect();
    if !r.outputs.is_empty() {
        let mut o = String::from("#### Outputs\n\n```diff\n");
        for oc in &r.outputs {
            let _ = writeln!(o, "{} {}: {} → {}", diff_mark(oc.action), oc.name, oc.before.text(), oc.after.text());
        }
        o.push_str("```\n");
        blocks.push(o);
    }
    fit(head, &blocks, limit, &m.stack)
}

/// `head` and as many whole blocks as fit in `limit`, then a note naming what was cut.
fn fit(head: String, blocks: &[String], limit: usize, stack: &str) -> String {
    let note = |n: usize| {
        format!(
            "\n_… {n} more change block{} not shown: the comment limit is {limit} characters; run `gf show {stack}` for the whole plan._\n",
            if n == 1 { "" } else { "s" }
        )
    };
    let mut out = head;
    for (i, b) in blocks.iter().enumerate() {
        let rest = blocks.len() - i - 1;
        let reserve = if rest > 0 { note(rest + 1).chars().count() } else { 0 };
        if out.chars().count() + b.chars().count() + reserve > limit {
            out.push_str(&note(blocks.len() - i));
            return out;
        }
        out.push_str(b);
    }
    out
}

fn diff_mark(a: Action) -> &'static str {
    match a {
        Action::Create => "+",
        Action::Delete => "-",
        Action::Replace => "!",
        _ => "~",
    }
}

fn resource_block(rc: &ResourceChange) -> String {
    let mut body = String::from("```diff\n");
    for a in &rc.attributes {
        let _ = writeln!(body, "{} {}", diff_mark(rc.action), attr_line(a));
    }
    body.push_str("```\n");
    let title = format!("{} `{}` ({}){}", rc.action.symbol(), rc.address, rc.action.word(), reason(rc));
    if rc.attributes.len() > COLLAPSE_LINES {
        format!("<details><summary>{title}: {} attributes</summary>\n\n{body}\n</details>\n\n", rc.attributes.len())
    } else if rc.attributes.is_empty() {
        format!("{title}\n\n")
    } else {
        format!("{title}\n\n{body}\n")
    }
}
