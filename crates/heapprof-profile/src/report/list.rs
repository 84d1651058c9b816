//! The `list` report: per-line values of the functions whose name matches a
//! regular expression, beside their source text when it can be read (pprof's
//! `-list`). Reading files is the caller's choice: the report asks a callback.

use std::fmt;
use std::path::{Path, PathBuf};

use hashbrown::HashMap;
use regex::Regex;
use serde::Serialize;

use super::graph::{Edges, Graph, NodeOptions, NodeTable};
use super::trim::{sort_by_file, sort_by_name};
use super::units::{percentage, scaled_label};
use super::{Granularity, Report, ReportError};

/// Lines shown before the first and after the last line with samples.
const MARGIN: i64 = 5;

/// Options of [`Report::list`].
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Directories to look for source files in (pprof's `-source_path`); file
    /// names from the profile are trimmed up to the base name of one of them.
    pub source_path: Vec<PathBuf>,
    /// Prefixes to trim from file names (pprof's `-trim_path`).
    pub trim_path: Vec<String>,
}

/// One line of a listed function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ListedLine {
    /// Line number.
    pub line: i64,
    /// Flat value of the line.
    pub flat: i64,
    /// Cumulative value of the line.
    pub cum: i64,
    /// The source text, when the file was found.
    pub text: Option<String>,
}

/// A function (in one source file) matching the expression.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ListedFunction {
    /// Function name.
    pub name: String,
    /// Source file as named in the profile (after trimming); `None` when the
    /// profile has no file for it.
    pub file: Option<String>,
    /// Sum of the flat values of its lines.
    pub flat: i64,
    /// Sum of the cumulative values of its lines.
    pub cum: i64,
    /// `cum` as a percentage of the total.
    pub percent: f64,
    /// Whether the source file was read: if not, `lines` holds only the lines
    /// with samples.
    pub source_found: bool,
    /// The lines, in order.
    pub lines: Vec<ListedLine>,
}

/// A list report (JSON schema `heapprof.list.v1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listing {
    /// Always `heapprof.list.v1`.
    pub schema: &'static str,
    /// The sample type's unit.
    pub sample_unit: String,
    /// What percentages are relative to.
    pub total: i64,
    /// Matching functions by name, then by file.
    pub functions: Vec<ListedFunction>,
}

impl Report {
    /// Per-line values of functions matching `regex`. `read_source` is given the
    /// file name from the profile and returns the file's text, or `None` (see
    /// [`find_source`] for pprof's search).
    pub fn list(
        &self,
        regex: &Regex,
        opts: &ListOptions,
        read_source: &mut dyn FnMut(&str) -> Option<String>,
    ) -> Result<Listing, ReportError> {
        let search: Vec<String> = opts.source_path.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        let table = NodeTable::new(
            &self.view,
            &NodeOptions {
                granularity: Granularity::Lines,
                obj_names: true,
                trim: opts.trim_path.clone(),
                search,
            },
        );
        let g = Graph::build(&self.view, &table, self.index, None, Edges::None);
        let mut by_name: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut firsts = Vec::new();
        for n in g.present() {
            let name = table.name(n);
            if !regex.is_match(name) {
                continue;
            }
            let nodes = by_name.entry(name).or_default();
            if nodes.is_empty() {
                firsts.push(n);
            }
            nodes.push(n);
        }
        if firsts.is_empty() {
            return Err(ReportError::NoMatches(regex.as_str().to_string()));
        }
        sort_by_name(&mut firsts, &table);
        let mut functions = Vec::new();
        for first in firsts {
            let name = table.name(first);
            let nodes = &by_name[name];
            let mut by_file: HashMap<&str, Vec<u32>> = HashMap::new();
            let mut files = Vec::new();
            for &n in nodes {
                let file = table.file(n);
                if file.is_empty() {
                    continue;
                }
                let list = by_file.entry(file).or_default();
                if list.is_empty() {
                    files.push(n);
                }
                list.push(n);
            }
            if files.is_empty() {
                functions.push(ListedFunction {
                    name: name.to_string(),
                    file: None,
                    flat: 0,
                    cum: 0,
                    percent: 0.0,
                    source_found: false,
                    lines: Vec::new(),
                });
                continue;
            }
            sort_by_file(&mut files, &table);
            for f in files {
                let file = table.file(f);
                let nodes = &by_file[file];
                functions.push(self.listed(&table, &g, name, file, nodes, read_source));
            }
        }
        Ok(Listing {
            schema: "heapprof.list.v1",
            sample_unit: self.sample_unit().to_string(),
            total: self.total,
            functions,
        })
    }

    fn listed(
        &self,
        table: &NodeTable,
        g: &Graph,
        name: &str,
        file: &str,
        nodes: &[u32],
        read_source: &mut dyn FnMut(&str) -> Option<String>,
    ) -> ListedFunction {
        let mut per_line: Vec<(i64, i64, i64)> = Vec::new();
        let (mut flat, mut cum) = (0i64, 0i64);
        let (mut start, mut end) = (i64::MAX, i64::MIN);
        for &n in nodes {
            let info = &table.infos[n as usize];
            let (f, c) = (g.flat[n as usize], g.cum[n as usize]);
            flat = flat.wrapping_add(f);
            cum = cum.wrapping_add(c);
            let node_start = if info.start_line != 0 { info.start_line } else { info.lineno - MARGIN };
            start = start.min(node_start);
            end = end.max(info.lineno + MARGIN);
            match per_line.iter_mut().find(|(l, _, _)| *l == info.lineno) {
                Some(slot) => {
                    slot.1 = slot.1.wrapping_add(f);
                    slot.2 = slot.2.wrapping_add(c);
                }
                None => per_line.push((info.lineno, f, c)),
            }
        }
        per_line.sort_unstable();
        let source = read_source(file);
        let lines = match &source {
            Some(text) => {
                let text: Vec<&str> = text.lines().collect();
                (start.max(1)..=end)
                    .map_while(|l| {
                        let t = text.get(usize::try_from(l - 1).ok()?)?;
                        let (_, f, c) =
                            per_line.iter().find(|(n, _, _)| *n == l).copied().unwrap_or((l, 0, 0));
                        Some(ListedLine { line: l, flat: f, cum: c, text: Some(t.to_string()) })
                    })
                    .collect()
            }
            None => {
                per_line.iter().map(|&(line, flat, cum)| ListedLine { line, flat, cum, text: None }).collect()
            }
        };
        ListedFunction {
            name: name.to_string(),
            file: Some(file.to_string()),
            flat,
            cum,
            percent: if self.total == 0 { 0.0 } else { (cum as f64 / self.total as f64).abs() * 100.0 },
            source_found: source.is_some(),
            lines,
        }
    }
}

impl Listing {
    /// Prints the report in pprof's `-list` layout.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let value = |v: i64| scaled_label(v, &self.sample_unit, "minimum");
        let dot = |v: i64| if v == 0 { ".".to_string() } else { value(v) };
        writeln!(w, "Total: {}", value(self.total))?;
        for f in &self.functions {
            let Some(file) = &f.file else {
                writeln!(w, "No source information for {}", f.name)?;
                continue;
            };
            writeln!(w, "ROUTINE ======================== {} in {file}", f.name)?;
            writeln!(
                w,
                "{:>10} {:>10} (flat, cum) {} of Total",
                value(f.flat),
                value(f.cum),
                percentage(f.cum, self.total)
            )?;
            if !f.source_found {
                writeln!(w, " (source not found: lines with samples only)")?;
            }
            for l in &f.lines {
                writeln!(
                    w,
                    "{:>10} {:>10} {:>6}:{}",
                    dot(l.flat),
                    dot(l.cum),
                    l.line,
                    l.text.as_deref().unwrap_or("")
                )?;
            }
        }
        Ok(())
    }
}

/// Larger files are not read as source: a profile names the files, and a crafted one
/// could name a huge file.
const MAX_SOURCE_BYTES: u64 = 8 << 20;

/// The text of the regular file at `path`, if it is UTF-8 and at most 8 MiB: a
/// profile's file names are not trusted to be source files (`/dev/zero` or a FIFO
/// would otherwise be read without end).
pub fn read_source_file(path: &Path) -> Option<String> {
    use std::io::Read;
    // Looked at before opening: opening a FIFO waits for a writer.
    let source_like = |m: std::fs::Metadata| m.is_file() && m.len() <= MAX_SOURCE_BYTES;
    if !std::fs::metadata(path).is_ok_and(source_like) {
        return None;
    }
    let file = std::fs::File::open(path).ok()?;
    if !file.metadata().is_ok_and(source_like) {
        return None;
    }
    // Bounded too: a file's length can grow between the check and the read.
    let mut text = String::new();
    file.take(MAX_SOURCE_BYTES).read_to_string(&mut text).ok()?;
    Some(text)
}

/// pprof's source search: an absolute name is read as is; a relative one is
/// tried under each directory of `source_path` and each of its parents.
pub fn find_source(file: &str, source_path: &[PathBuf]) -> Option<String> {
    let path = Path::new(file);
    if path.is_absolute() {
        return read_source_file(path);
    }
    for dir in source_path {
        let mut dir = Some(dir.as_path());
        while let Some(d) = dir {
            if let Some(text) = read_source_file(&d.join(path)) {
                return Some(text);
            }
            dir = d.parent().filter(|p| !p.as_os_str().is_empty());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile names the files: only regular files of source size are read.
    #[test]
    fn only_regular_files_of_source_size_are_read_as_source() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("main.rs");
        std::fs::write(&source, "fn main() {}\n").unwrap();
        assert_eq!(read_source_file(&source).as_deref(), Some("fn main() {}\n"));
        let big = dir.path().join("big.rs");
        std::fs::File::create(&big).unwrap().set_len(MAX_SOURCE_BYTES + 1).unwrap();
        assert_eq!(read_source_file(&big), None);
        // Endless, and of length 0: read without a check, it fills the memory.
        assert_eq!(read_source_file(Path::new("/dev/zero")), None);
        assert_eq!(read_source_file(dir.path()), None);
        assert_eq!(find_source("/dev/zero", &[]), None);
    }
}
