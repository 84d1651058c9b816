//! Writing reports to stdout: streamed line by line, modest colour on a
//! terminal (never when NO_COLOR is set), and a closed pipe ends quietly.

use std::fmt;
use std::io::{self, BufWriter, IsTerminal, Write};

use anyhow::Result;
use serde::Serialize;

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const RESET: &str = "\x1b[0m";

/// Whether to colour stdout: a terminal, and `NO_COLOR` unset or empty.
fn use_color() -> bool {
    io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// How a line is coloured: column headings and routine titles in bold; in a
/// diff, growth in red and shrinkage in green.
fn style(line: &str, diff: bool) -> Option<&'static str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("flat ") || trimmed.starts_with("flat-diff") || line.starts_with("ROUTINE ") {
        return Some(BOLD);
    }
    if diff {
        if trimmed.starts_with('+') {
            return Some(RED);
        }
        if trimmed.starts_with('-') {
            return Some(GREEN);
        }
    }
    None
}

/// A `fmt::Write` that forwards complete lines to stdout.
struct LineWriter {
    out: BufWriter<io::StdoutLock<'static>>,
    color: bool,
    diff: bool,
    line: String,
    error: Option<io::Error>,
}

impl LineWriter {
    fn emit(&mut self, line: &str) -> io::Result<()> {
        match style(line, self.diff).filter(|_| self.color) {
            Some(s) => write!(self.out, "{s}{line}{RESET}"),
            None => self.out.write_all(line.as_bytes()),
        }
    }
}

impl fmt::Write for LineWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(nl) = rest.find('\n') {
            self.line.push_str(&rest[..=nl]);
            let line = std::mem::take(&mut self.line);
            if let Err(e) = self.emit(&line) {
                self.error = Some(e);
                return Err(fmt::Error);
            }
            rest = &rest[nl + 1..];
        }
        self.line.push_str(rest);
        Ok(())
    }
}

/// Prints text produced by `write` to stdout. `diff` enables the diff colours.
pub fn print_text(diff: bool, write: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) -> Result<()> {
    let mut w = LineWriter {
        out: BufWriter::with_capacity(1 << 16, io::stdout().lock()),
        color: use_color(),
        diff,
        line: String::new(),
        error: None,
    };
    let written = write(&mut w);
    let result = match (written, w.error.take()) {
        (Err(_), Some(e)) => Err(e),
        (Err(_), None) => Err(io::Error::other("formatting failed")),
        (Ok(()), _) => {
            let tail = std::mem::take(&mut w.line);
            w.emit(&tail).and_then(|()| w.out.flush())
        }
    };
    quiet_on_broken_pipe(result)
}

/// Prints `value` as pretty JSON and a newline.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let result = serde_json::to_writer_pretty(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    quiet_on_broken_pipe(result)
}

/// A reader that went away (`heapprof top … | head`) is not an error.
fn quiet_on_broken_pipe(result: io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(anyhow::anyhow!("writing output: {e}")),
        Ok(()) => Ok(()),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory, so
/// that a failure never leaves a half-written profile behind.
pub fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::anyhow!("{}: {e}", path.display())
    })
}
