//! The memory map section of legacy profiles and pprof's mapping heuristics.
//!
//! Lines are either `/proc/self/maps` lines or brief `start-end: file` lines
//! (`0x40000-0x80000 /path/to/binary (@FF00) abc123456`: range, file, optional offset
//! and build id). `name=value` lines define `$name` for the lines after them; glog
//! prefixes are dropped; anything else is ignored, as pprof does.

use std::borrow::Cow;

use super::scan::{Cursor, is_go_space};
use super::{Raw, RawMapping};

/// What one memory map line holds.
#[derive(Debug, PartialEq)]
enum Entry {
    Mapping(RawMapping),
    /// A mapping that is not executable.
    Skip,
    Unrecognized,
}

/// Reads the lines after the memory map sentinel.
pub(super) fn parse<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<RawMapping> {
    let mut out = Vec::new();
    let mut attrs: Vec<(String, String)> = Vec::new();
    for line in lines {
        let line = substitute(remove_logging_info(line), &attrs);
        match parse_entry(&line) {
            Entry::Mapping(m) => out.push(m),
            Entry::Skip => {}
            Entry::Unrecognized => {
                if let Some((k, v)) = line.split_once('=') {
                    attrs.push((format!("${}", k.trim()), v.trim().to_owned()));
                }
            }
        }
    }
    out
}

/// Drops a glog prefix, `^[^\[\]]+:[0-9]+]\s`.
fn remove_logging_info(line: &str) -> &str {
    let Some(close) = line.find(']') else {
        return line;
    };
    let prefix = &line[..close];
    let Some((file, num)) = prefix.rsplit_once(':') else {
        return line;
    };
    let after = line.as_bytes().get(close + 1).copied();
    if !file.is_empty()
        && !file.contains('[')
        && !num.is_empty()
        && num.bytes().all(|b| b.is_ascii_digit())
        && after.is_some_and(is_go_space)
    {
        &line[close + 2..]
    } else {
        line
    }
}

/// Replaces `$name` by its value, the first defined name winning where several match.
fn substitute<'a>(line: &'a str, attrs: &[(String, String)]) -> Cow<'a, str> {
    if attrs.is_empty() || !line.contains('$') {
        return Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    'outer: while let Some(c) = rest.chars().next() {
        for (from, to) in attrs {
            if let Some(after) = rest.strip_prefix(from.as_str()) {
                out.push_str(to);
                rest = after;
                continue 'outer;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// Candidate (start, limit, position after) splits of the leading address range,
/// in the order pprof's regular expression would try them:
/// `\s*(?:0x)?([[:xdigit:]]+)[\s-]?\s*(?:0x)?([[:xdigit:]]+)`.
fn range_candidates(line: &str) -> Vec<(&str, &str, usize)> {
    let mut c = Cursor::new(line, 0);
    c.ws0();
    let mut probe = c;
    if probe.lit("0x") && probe.hex().is_some() {
        c.pos += 2;
    }
    let Some(run1) = c.hex() else {
        return Vec::new();
    };
    let e1 = c.pos;
    let mut out = Vec::new();
    // The first number whole, then a separator.
    let mut a = c;
    if a.peek().is_some_and(|b| b == b'-' || is_go_space(b)) {
        a.pos += 1;
        a.ws0();
        let mut probe = a;
        if probe.lit("0x") && probe.hex().is_some() {
            a.pos += 2;
        }
        if let Some(run2) = a.hex() {
            out.push((run1, run2, a.pos));
        }
    }
    // The first number cut short, the second taking its last digit (or a `0x`
    // number right after that digit when it is a `0`).
    if run1.len() >= 2 {
        let (head, last) = run1.split_at(run1.len() - 1);
        if last == "0" {
            let mut b = Cursor::new(line, e1);
            if b.lit("x") {
                if let Some(run2) = b.hex() {
                    out.push((head, run2, b.pos));
                }
            }
        }
        out.push((head, last, e1));
    }
    out
}

fn is_perm(b: u8) -> bool {
    matches!(b, b'-' | b'r' | b'w' | b'x' | b'p')
}

/// `(?:\s+(token))?` where the token is a nonempty run of `pred` bytes.
fn optional_token<'a>(c: &mut Cursor<'a>, pred: impl Fn(u8) -> bool) -> &'a str {
    let save = *c;
    if c.ws1() {
        let t = c.take_while(pred);
        if !t.is_empty() {
            return t;
        }
    }
    *c = save;
    ""
}

/// The rest of a `/proc/self/maps` line:
/// `:?(?:\s+([-rwxp]+))?(?:\s+([[:xdigit:]]+))?\s+[[:xdigit:]]+:[[:xdigit:]]+\s+[[:digit:]]+(?:\s+(\S+))?`
/// → (perm, offset, file).
fn proc_rest(line: &str, pos: usize) -> Option<(&str, &str, &str)> {
    let mut c = Cursor::new(line, pos);
    c.lit(":");
    let perm = optional_token(&mut c, is_perm);
    let mut offset = "";
    let save = c;
    if c.ws1() {
        match c.hex() {
            Some(h) if c.peek().is_some_and(is_go_space) => offset = h,
            _ => c = save,
        }
    }
    (c.ws1() && c.hex().is_some() && c.lit(":") && c.hex().is_some()).then_some(())?;
    (c.ws1() && c.digits().is_some()).then_some(())?;
    let file = optional_token(&mut c, |b| !is_go_space(b));
    Some((perm, offset, file))
}

/// The rest of a brief line:
/// `:?(?:\s+([-rwxp]+))?(?:\s+(\S+))?(?:\s+\(@([[:xdigit:]]+)\))?(?:\s+([[:xdigit:]]+))?`
/// → (perm, file, offset, build id). Everything is optional, so it always matches.
fn brief_rest(line: &str, pos: usize) -> (&str, &str, &str, &str) {
    let mut c = Cursor::new(line, pos);
    c.lit(":");
    let perm = optional_token(&mut c, is_perm);
    let file = optional_token(&mut c, |b| !is_go_space(b));
    let mut offset = "";
    let save = c;
    if c.ws1() && c.lit("(@") {
        match c.hex() {
            Some(h) if c.lit(")") => offset = h,
            _ => c = save,
        }
    } else {
        c = save;
    }
    let build_id = optional_token(&mut c, |b| b.is_ascii_hexdigit());
    (perm, file, offset, build_id)
}

/// pprof's `parseMappingEntry`.
fn parse_entry(line: &str) -> Entry {
    let candidates = range_candidates(line);
    let proc =
        candidates.iter().find_map(|&(s, e, pos)| proc_rest(line, pos).map(|(p, o, f)| (s, e, p, o, f, "")));
    let fields = proc.or_else(|| {
        candidates.first().map(|&(s, e, pos)| {
            let (p, f, o, b) = brief_rest(line, pos);
            (s, e, p, o, f, b)
        })
    });
    let Some((start, limit, perm, offset, file, build_id)) = fields else {
        return Entry::Unrecognized;
    };
    if !perm.is_empty() && !perm.contains('x') {
        return Entry::Skip;
    }
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    let (Some(start), Some(limit)) = (hex(start), hex(limit)) else {
        return Entry::Unrecognized;
    };
    let offset = if offset.is_empty() { Some(0) } else { hex(offset) };
    let Some(offset) = offset else {
        return Entry::Unrecognized;
    };
    Entry::Mapping(RawMapping {
        start,
        limit,
        offset,
        file: file.to_owned(),
        build_id: build_id.to_owned(),
        symbolized: false,
    })
}

/// pprof's `massageMappings`: joins a mapping split into adjacent pieces and moves the
/// main binary (the first named file that is not a shared library or `[special]`) first.
pub(super) fn massage(mappings: &mut Vec<RawMapping>) {
    if mappings.len() > 1 {
        let mut joined: Vec<RawMapping> = Vec::with_capacity(mappings.len());
        for m in mappings.drain(..) {
            match joined.last_mut() {
                Some(last) if adjacent(last, &m) => {
                    last.limit = m.limit;
                    if !m.file.is_empty() {
                        last.file = m.file;
                    }
                    if !m.build_id.is_empty() {
                        last.build_id = m.build_id;
                    }
                }
                _ => joined.push(m),
            }
        }
        *mappings = joined;
    }
    let main = mappings.iter().position(|m| {
        let file = m.file.replace("(deleted)", "");
        let file = file.trim();
        !file.is_empty() && !is_shared_library(file) && !file.starts_with('[')
    });
    if let Some(i) = main {
        mappings.swap(0, i);
    }
}

/// pprof's `([.]so$|[.]so[._][0-9]+)`.
fn is_shared_library(file: &str) -> bool {
    file.ends_with(".so")
        || file.match_indices(".so").any(|(i, _)| {
            let b = file.as_bytes();
            matches!(b.get(i + 3), Some(b'.' | b'_')) && b.get(i + 4).is_some_and(u8::is_ascii_digit)
        })
}

fn adjacent(m1: &RawMapping, m2: &RawMapping) -> bool {
    if !m1.file.is_empty() && !m2.file.is_empty() && m1.file != m2.file {
        return false;
    }
    if !m1.build_id.is_empty() && !m2.build_id.is_empty() && m1.build_id != m2.build_id {
        return false;
    }
    if m1.limit != m2.start {
        return false;
    }
    if m1.offset != 0 && m2.offset != 0 {
        let offset = m1.offset.wrapping_add(m1.limit.wrapping_sub(m1.start));
        if offset != m2.offset {
            return false;
        }
    }
    true
}

/// pprof's `remapMappingIDs`: fixes the main binary's range, then gives each located
/// address its mapping, adding one fake mapping over everything for addresses that
/// fall in none (Go's legacy profiles have no memory map at all).
pub(super) fn assign(raw: &mut Raw) {
    let maps = &mut raw.mappings;
    if maps.len() > 1 && maps[0].file.starts_with("/anon_hugepage") && maps[0].limit == maps[1].start {
        maps.remove(0);
    }
    if let Some(m) = maps.first_mut() {
        const EXPECTED_START: u64 = 0x40_0000;
        if m.start.wrapping_sub(m.offset) == EXPECTED_START {
            m.start = EXPECTED_START;
            m.offset = 0;
        }
    }
    let mut fake = None;
    for l in &mut raw.locations {
        let a = l.address;
        if l.mapping.is_some() || a == 0 {
            continue;
        }
        if let Some(i) = maps.iter().position(|m| m.start <= a && a < m.limit) {
            l.mapping = Some(i);
            continue;
        }
        // Legacy handlers sometimes left out the first piece of a split mapping.
        if let Some(i) =
            maps.iter().position(|m| m.offset != 0 && m.start.wrapping_sub(m.offset) <= a && a < m.start)
        {
            let m = &mut maps[i];
            m.start = m.start.wrapping_sub(m.offset);
            m.offset = 0;
            l.mapping = Some(i);
            continue;
        }
        let i = *fake.get_or_insert_with(|| {
            maps.push(RawMapping { limit: u64::MAX, ..RawMapping::default() });
            maps.len() - 1
        });
        l.mapping = Some(i);
    }
}

/// Marks the mappings whose every location has symbols (from Go's `#` lines).
pub(super) fn mark_symbolized(raw: &mut Raw) {
    let mut state = vec![None::<bool>; raw.mappings.len()];
    for l in &raw.locations {
        if let Some(s) = l.mapping.and_then(|m| state.get_mut(m)) {
            *s = Some(s.unwrap_or(true) && !l.lines.is_empty());
        }
    }
    for (m, s) in raw.mappings.iter_mut().zip(state) {
        m.symbolized = s == Some(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(start: u64, limit: u64, offset: u64, file: &str, build_id: &str) -> Entry {
        Entry::Mapping(RawMapping {
            start,
            limit,
            offset,
            file: file.into(),
            build_id: build_id.into(),
            symbolized: false,
        })
    }

    #[test]
    fn proc_maps_lines() {
        assert_eq!(
            parse_entry("7f5578cd6000-7f5578e21000 r-xp 00025000 00:11 9915   /usr/lib/libc.so"),
            mapping(0x7f5578cd6000, 0x7f5578e21000, 0x25000, "/usr/lib/libc.so", "")
        );
        assert_eq!(
            parse_entry("7f5578cb1000-7f5578cd6000 r--p 00000000 00:11 9915 /usr/lib/libc.so"),
            Entry::Skip
        );
        assert_eq!(parse_entry("7f5579079000-7f557907a000 rw-p 00000000 00:00 0"), Entry::Skip);
    }

    #[test]
    fn brief_lines() {
        assert_eq!(
            parse_entry("  00400000-00fcb000: /home/cppbench_server_main"),
            mapping(0x400000, 0xfcb000, 0, "/home/cppbench_server_main", "")
        );
        assert_eq!(
            parse_entry("0x40000-0x80000 /path/to/binary (@FF00) abc123456"),
            mapping(0x40000, 0x80000, 0xff00, "/path/to/binary", "abc123456")
        );
        // The expression pprof uses splits a lone hex word in two.
        assert_eq!(parse_entry("abc"), mapping(0xab, 0xc, 0, "", ""));
        assert_eq!(parse_entry("source=/home"), Entry::Unrecognized);
        assert_eq!(parse_entry(""), Entry::Unrecognized);
    }

    #[test]
    fn attributes_and_log_prefixes() {
        let lines = ["\tsource=/home", "I0101 12:00:00.000 foo.cc:12] 00400000-00fcb000: $source/main"];
        let m = parse(lines.into_iter());
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].file, "/home/main");
    }

    #[test]
    fn main_binary_moves_first_and_pieces_join() {
        let mut m = vec![
            RawMapping { start: 0, limit: 10, file: "/lib/libc.so.6".into(), ..Default::default() },
            RawMapping { start: 10, limit: 20, file: "/lib/libc.so.6".into(), ..Default::default() },
            RawMapping { start: 30, limit: 40, file: "/bin/app".into(), ..Default::default() },
        ];
        massage(&mut m);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].file, "/bin/app");
        assert_eq!((m[1].start, m[1].limit), (0, 20));
    }
}
