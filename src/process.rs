//! What every external command's errors share: the tail of its stderr.

use std::collections::VecDeque;

/// The last non-empty lines of a child's stderr, kept while it streams, for its exit error.
#[derive(Debug)]
pub struct StderrTail {
    lines: VecDeque<String>,
    keep: usize,
}

impl StderrTail {
    /// Keep at most `keep` lines.
    pub fn new(keep: usize) -> Self {
        Self { lines: VecDeque::with_capacity(keep), keep }
    }

    /// Record one line (blank lines are not worth a place).
    pub fn push(&mut self, line: &str) {
        if line.trim().is_empty() || self.keep == 0 {
            return;
        }
        if self.lines.len() == self.keep {
            self.lines.pop_front();
        }
        self.lines.push_back(line.to_string());
    }

    /// The kept lines, oldest first.
    pub fn into_lines(self) -> Vec<String> {
        self.lines.into()
    }
}

/// `:` and the lines indented below it, or nothing when there are none: for `…failed ({status}){}`.
pub fn render_tail(lines: &[String]) -> String {
    if lines.is_empty() { String::new() } else { format!(":\n  {}", lines.join("\n  ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_non_empty_lines() {
        let mut t = StderrTail::new(2);
        for l in ["a", "", "b", "  ", "c"] {
            t.push(l);
        }
        assert_eq!(t.into_lines(), ["b", "c"]);
        assert_eq!(render_tail(&["x".into(), "y".into()]), ":\n  x\n  y");
        assert_eq!(render_tail(&[]), "");
    }
}
