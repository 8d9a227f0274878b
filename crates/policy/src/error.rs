//! The one error type of this crate.

use std::fmt;

/// Why a policy document was rejected.
///
/// [`message`](PolicyError::message) is the text AWS IAM returns for the same mistake, as far as
/// it is known, so an IAM-compatible API can return it unchanged with the code from
/// [`code`](PolicyError::code). [`detail`](PolicyError::detail) adds our own explanation, and
/// [`line`](PolicyError::line) / [`column`](PolicyError::column) (1-based) point into the JSON
/// text where the problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    message: String,
    detail: Option<String>,
    line: Option<u32>,
    column: Option<u32>,
}

impl PolicyError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        PolicyError {
            message: message.into(),
            detail: None,
            line: None,
            column: None,
        }
    }

    pub(crate) fn syntax(detail: impl Into<String>) -> Self {
        PolicyError::new("Syntax errors in policy.").with_detail(detail)
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn at(mut self, pos: crate::json::Pos) -> Self {
        if self.line.is_none() {
            self.line = Some(pos.line);
            self.column = Some(pos.column);
        }
        self
    }

    /// The AWS error code: always `MalformedPolicyDocument`.
    pub fn code(&self) -> &'static str {
        "MalformedPolicyDocument"
    }

    /// The message AWS returns for this mistake, e.g. `Missing required field Effect`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Our own more precise explanation, when there is one.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// 1-based line of the offending JSON element, when known.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// 1-based column (in characters) of the offending JSON element, when known.
    pub fn column(&self) -> Option<u32> {
        self.column
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, " at line {l}, column {c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyError {}
