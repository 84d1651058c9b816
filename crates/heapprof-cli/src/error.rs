//! Errors the user can fix (bad input, bad usage): they exit with status 2.

use std::fmt;

/// A problem with something the user gave: a source, an option, a regex.
#[derive(Debug)]
pub struct BadInput {
    /// What it is about: a file name, a URL, an option such as `--focus`.
    pub subject: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.message)
    }
}

impl std::error::Error for BadInput {}

/// A [`BadInput`] as an `anyhow::Error`.
pub fn bad(subject: impl Into<String>, message: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(BadInput { subject: subject.into(), message: message.to_string() })
}

/// Standard output was closed by its reader (`heapprof top … | head`): the
/// command stops, and `heapprof` exits quietly with status 0.
#[derive(Debug)]
pub struct ClosedPipe;

impl fmt::Display for ClosedPipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("standard output closed")
    }
}

impl std::error::Error for ClosedPipe {}

/// Exit status for an error: 2 for bad input or usage, 1 for anything else
/// (such as failing to write an output file).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<BadInput>().is_some() { 2 } else { 1 }
}

/// The error on one line: chained causes joined by ": ", runs of white space
/// (multi-line messages such as regex errors) folded into one space.
pub fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").split_whitespace().collect::<Vec<_>>().join(" ")
}
