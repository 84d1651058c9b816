//! Writing reports to stdout and files: buffered, modest colour on a terminal
//! (never when NO_COLOR is set), and a closed pipe ends quietly. Files are
//! written through a temporary file, so a failure leaves nothing half-written;
//! `-` is stdout.

use std::fmt;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::error::{ClosedPipe, bad};

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

/// A `fmt::Write` over a buffered `io::Write`. Plain text passes straight
/// through; coloured text is styled a whole line at a time.
struct TextOut<W: Write> {
    out: W,
    color: Option<LineStyle>,
    /// The first write error (`fmt::Error` cannot carry it).
    error: Option<io::Error>,
}

/// Colours for complete lines, and the line being gathered.
struct LineStyle {
    diff: bool,
    line: String,
}

impl LineStyle {
    fn write(&mut self, out: &mut impl Write, s: &str) -> io::Result<()> {
        let mut rest = s;
        while let Some(nl) = rest.find('\n') {
            self.line.push_str(&rest[..=nl]);
            self.emit(out, &self.line)?;
            self.line.clear();
            rest = &rest[nl + 1..];
        }
        self.line.push_str(rest);
        Ok(())
    }

    fn emit(&self, out: &mut impl Write, line: &str) -> io::Result<()> {
        match style(line, self.diff) {
            Some(s) => write!(out, "{s}{line}{RESET}"),
            None => out.write_all(line.as_bytes()),
        }
    }
}

impl<W: Write> fmt::Write for TextOut<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let written = match &mut self.color {
            None => self.out.write_all(s.as_bytes()),
            Some(c) => c.write(&mut self.out, s),
        };
        written.map_err(|e| {
            self.error = Some(e);
            fmt::Error
        })
    }
}

impl<W: Write> TextOut<W> {
    fn new(out: W, color: Option<LineStyle>) -> Self {
        TextOut { out, color, error: None }
    }

    /// Writes what is left and flushes, also when formatting failed half way
    /// (`written`), so that what was made is not lost.
    fn finish(mut self, written: fmt::Result) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(c) = &self.color {
            c.emit(&mut self.out, &c.line)?;
        }
        self.out.flush()?;
        written.map_err(|_| io::Error::other("formatting failed"))
    }
}

/// Prints text produced by `write` to stdout (buffered). `diff` enables the diff
/// colours.
pub fn print_text(diff: bool, write: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) -> Result<()> {
    let color = use_color().then(|| LineStyle { diff, line: String::new() });
    let mut w = TextOut::new(BufWriter::with_capacity(1 << 16, io::stdout().lock()), color);
    let written = write(&mut w);
    stdout_result(w.finish(written))
}

/// Prints `value` as pretty JSON and a newline.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    let mut out = BufWriter::with_capacity(1 << 16, io::stdout().lock());
    let result = serde_json::to_writer_pretty(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    stdout_result(result)
}

/// A reader that went away (`heapprof top … | head`) is not an error: the
/// command stops and `heapprof` exits quietly ([`ClosedPipe`]).
fn stdout_result(result: io::Result<()>) -> Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Err(anyhow::Error::new(ClosedPipe)),
        Err(e) => Err(anyhow::anyhow!("writing output: {e}")),
        Ok(()) => Ok(()),
    }
}

/// Writes `bytes` to `path` as the library writes profiles
/// ([`heapprof::write_atomically`]: through a temporary file and a rename, so a
/// failure never leaves a half-written file; symlinks, devices and FIFOs written
/// through), or to stdout when `path` is `-`. An output path that cannot be (a
/// missing directory, a directory in the file's place) is bad input.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    if path.as_os_str() == "-" {
        let mut out = io::stdout().lock();
        return stdout_result(out.write_all(bytes).and_then(|()| out.flush()));
    }
    heapprof::write_atomically(path, bytes).map_err(|e| match e {
        heapprof::Error::Write { source, .. } if is_bad_path(&source) => {
            bad(path.display().to_string(), source)
        }
        e => anyhow::Error::new(e),
    })
}

/// Checks that files can be created in `dir`, for a command that writes there later
/// (after a program ran, at every fetch): a one-line reason when they cannot.
/// Creating one is the only test that answers for permissions, ACLs and read-only
/// mounts alike.
pub fn writable_dir(dir: &Path) -> std::result::Result<(), String> {
    match std::fs::metadata(dir) {
        Err(e) => return Err(format!("{}: {e}", dir.display())),
        Ok(m) if !m.is_dir() => return Err(format!("{} is not a directory", dir.display())),
        Ok(_) => {}
    }
    let probe = dir.join(format!(".heapprof-probe.{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        // Left by an earlier process with this pid: the directory was writable.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create files in {}: {e}", dir.display())),
    }
}

/// Whether the path itself is wrong (not, say, the disk full).
fn is_bad_path(e: &io::Error) -> bool {
    use io::ErrorKind::{InvalidInput, IsADirectory, NotADirectory, NotFound};
    matches!(e.kind(), NotFound | NotADirectory | IsADirectory | InvalidInput)
}

/// Writes the text `write` makes to `path`, as [`write_file`] does.
pub fn write_text_file(path: &Path, write: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) -> Result<()> {
    write_file_with(path, |out| {
        let mut w = TextOut::new(out, None);
        let written = write(&mut w);
        w.finish(written).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    })
}

/// Writes what `write` makes to `path`, as [`write_file`] does; nothing is
/// written if `write` fails.
pub fn write_file_with(path: &Path, write: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    let mut bytes = Vec::new();
    write(&mut bytes)?;
    write_file(path, &bytes)
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// What `TextOut` writes for text given in pieces that split lines.
    fn written(color: Option<LineStyle>) -> String {
        let mut out = Vec::new();
        let mut w = TextOut::new(&mut out, color);
        write!(w, "      flat  flat%\n+1 ").unwrap();
        w.write_str("a\n-2 b").unwrap();
        w.finish(Ok(())).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_text_passes_through_and_colour_styles_whole_lines() {
        assert_eq!(written(None), "      flat  flat%\n+1 a\n-2 b");
        let color = LineStyle { diff: true, line: String::new() };
        assert_eq!(
            written(Some(color)),
            format!("{BOLD}      flat  flat%\n{RESET}{RED}+1 a\n{RESET}{GREEN}-2 b{RESET}")
        );
    }

    #[test]
    fn a_formatting_failure_keeps_what_was_written() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut w = TextOut::new(BufWriter::new(file.reopen().unwrap()), None);
        w.write_str("made so far\n").unwrap();
        let err = w.finish(Err(fmt::Error)).unwrap_err();
        assert_eq!(err.to_string(), "formatting failed");
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "made so far\n");
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.svg");
        let err = write_file_with(&path, |w| {
            w.write_all(b"half")?;
            Err(anyhow::anyhow!("drawing failed"))
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "drawing failed");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_text_file(&path, |w| w.write_str("a;b 1\n")).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a;b 1\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
