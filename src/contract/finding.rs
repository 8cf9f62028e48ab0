//! Findings: one problem of the contract, a manifest, a stack source or the environment.

use std::fmt;

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Fails `gf check` (exit 1) and blocks every other command.
    Error,
    /// Reported, never fails.
    Warning,
}

/// One problem found in the contract, a manifest, a stack source or the environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Short machine-readable kind, e.g. `unknown-field`, `cycle`, `http-backend`.
    pub code: &'static str,
    /// File relative to the repository root (`None` for environment findings).
    pub file: Option<String>,
    /// 1-based line, where there is one.
    pub line: Option<usize>,
    /// 1-based column, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong, naming the culprit.
    pub message: String,
}

impl Finding {
    /// An error finding.
    pub fn error(code: &'static str, file: Option<&str>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            file: file.map(str::to_string),
            line,
            column: None,
            message: message.into(),
        }
    }

    /// A warning finding.
    pub fn warning(code: &'static str, file: Option<&str>, line: Option<usize>, message: impl Into<String>) -> Self {
        Self { severity: Severity::Warning, ..Self::error(code, file, line, message) }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match (&self.file, self.line, self.column) {
            (Some(file), Some(line), Some(col)) => write!(f, "{sev}: {file}:{line}:{col}: {}", self.message),
            (Some(file), Some(line), None) => write!(f, "{sev}: {file}:{line}: {}", self.message),
            (Some(file), None, _) => write!(f, "{sev}: {file}: {}", self.message),
            (None, _, _) => write!(f, "{sev}: {}", self.message),
        }
    }
}
