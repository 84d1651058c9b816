//! Java heapz profiles: `--- heapz 1 ---`, `name = value` attributes, `bytes count @
//! ids` records, then `0xID function (File.java:line)` lines naming the ids.

use std::collections::HashMap;

use super::scan::{base_name, find, hex_addresses, is_go_space, parse_i64, parse_i64_base0};
use super::{LocationTable, Raw, RawFunction, RawSample, heap, legacy_error, maps, snippet};
use crate::Error;

/// The Java agent's heap sampling rate (512 KiB), not written in the profile.
const JAVA_HEAP_SAMPLING_RATE: i64 = 524_288;

/// One line with its 1-based number; pprof's Java reader only takes the header and
/// record lines that end with a newline.
#[derive(Clone, Copy, Debug)]
struct NumberedLine<'a> {
    n: usize,
    text: &'a str,
    terminated: bool,
}

/// Parses a Java heap profile, or `Ok(None)` when the first line is not its header.
pub(super) fn parse(text: &str) -> Result<Option<Raw>, Error> {
    let Some((first, rest)) = text.split_once('\n') else {
        return Ok(None);
    };
    if first.trim() != "--- heapz 1 ---" {
        return Ok(None);
    }
    let lines: Vec<NumberedLine<'_>> = rest
        .split_inclusive('\n')
        .enumerate()
        .map(|(i, l)| NumberedLine { n: i + 2, text: l, terminated: l.ends_with('\n') })
        .collect();
    let mut raw = Raw { period_type: Some((String::new(), String::new())), ..Raw::default() };
    let mut i = 0;
    // Attributes.
    while let Some(line) = lines.get(i).filter(|l| l.terminated) {
        let t = line.text.trim();
        if !t.is_empty() {
            let Some((key, value)) = attribute(t) else {
                break;
            };
            match key {
                "format" if value == "java" => {}
                "format" => {
                    return Err(legacy_error(
                        line.n,
                        format!("Java heap profile format is {value:?}, expected \"java\""),
                    ));
                }
                "resolution" => {
                    raw.sample_types = vec![
                        ("inuse_objects".into(), "count".into()),
                        ("inuse_space".into(), value.to_owned()),
                    ];
                }
                _ => {
                    return Err(legacy_error(line.n, format!("unknown Java heap profile attribute {key:?}")));
                }
            }
        }
        i += 1;
    }
    // Records.
    let mut locs = LocationTable::default();
    while let Some(line) = lines.get(i).filter(|l| l.terminated) {
        let t = line.text.trim();
        if !t.is_empty() {
            let Some([bytes, count, stack]) = record(t) else {
                break;
            };
            sample(line.n, t, [bytes, count, stack], &mut raw, &mut locs)?;
        }
        i += 1;
    }
    // Location names.
    let mut functions = HashMap::new();
    for line in &lines[i..] {
        name_location(line, &mut raw, &locs, &mut functions)?;
    }
    raw.renumber();
    maps::assign(&mut raw);
    // pprof aggregates Java profiles without addresses, so that they merge better.
    for l in &mut raw.locations {
        l.address = 0;
    }
    Ok(Some(raw))
}

fn is_word_or_space(b: u8) -> bool {
    b == b' ' || b == b'_' || b.is_ascii_alphanumeric()
}

/// pprof's `([\w ]+)=([\w ]+)`, trimmed.
fn attribute(line: &str) -> Option<(&str, &str)> {
    find(line, is_word_or_space, is_word_or_space, |mut c| {
        let key = c.take_while(is_word_or_space);
        c.lit("=").then_some(())?;
        let value = c.take_while(is_word_or_space);
        (!value.is_empty()).then_some((key.trim(), value.trim()))
    })
}

/// pprof's ` *(\d+) +(\d+) +@ +([ x0-9a-f]*)` → (bytes, count, stack).
fn record(line: &str) -> Option<[&str; 3]> {
    let is_digit = |b: u8| b.is_ascii_digit();
    find(line, is_digit, is_digit, |mut c| {
        let bytes = c.digits()?;
        (!c.take_while(|b| b == b' ').is_empty()).then_some(())?;
        let count = c.digits()?;
        (!c.take_while(|b| b == b' ').is_empty()).then_some(())?;
        c.lit("@").then_some(())?;
        (!c.take_while(|b| b == b' ').is_empty()).then_some(())?;
        let stack = c.take_while(|b| matches!(b, b' ' | b'x' | b'0'..=b'9' | b'a'..=b'f'));
        Some([bytes, count, stack])
    })
}

fn sample(
    n: usize,
    line: &str,
    [bytes, count, stack]: [&str; 3],
    raw: &mut Raw,
    locs: &mut LocationTable,
) -> Result<(), Error> {
    let addrs = hex_addresses(stack)
        .map_err(|a| legacy_error(n, format!("location id {a} does not fit in 64 bits")))?;
    let locations = addrs.into_iter().map(|a| locs.get(raw, a)).collect();
    let num = |s: &str| {
        parse_i64_base0(s)
            .ok_or_else(|| legacy_error(n, format!("Java heap record value {s} is not a 64-bit integer")))
    };
    let (count, bytes) = (num(count)?, num(bytes)?);
    if count == 0 {
        return Err(legacy_error(n, format!("Java heap record {} has an object count of 0", snippet(line))));
    }
    let block_size = bytes.checked_div(count).unwrap_or(0);
    let (count, bytes) = heap::scale_heap_sample(count, bytes, JAVA_HEAP_SAMPLING_RATE);
    raw.samples.push(RawSample {
        locations,
        values: vec![count, bytes],
        labels: Vec::new(),
        num_labels: vec![("bytes".into(), block_size)],
    });
    Ok(())
}

/// A `0xID rest` line: gives the location with that id its function and line.
fn name_location(
    line: &NumberedLine<'_>,
    raw: &mut Raw,
    locs: &LocationTable,
    functions: &mut HashMap<String, usize>,
) -> Result<(), Error> {
    let t = line.text.trim();
    // pprof's `^\s*0x([[:xdigit:]]+)\s+(.*)\s*$`
    let Some(rest) = t.strip_prefix("0x") else {
        return Ok(());
    };
    let hex_len = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
    let (id, desc) = rest.split_at(hex_len);
    let desc_start =
        desc.len() - desc.trim_start_matches(|c: char| c.is_ascii() && is_go_space(c as u8)).len();
    if hex_len == 0 || desc_start == 0 {
        return Ok(());
    }
    let desc = &desc[desc_start..];
    let id = u64::from_str_radix(id, 16)
        .map_err(|_| legacy_error(line.n, format!("location id 0x{id} does not fit in 64 bits")))?;
    let Some(&loc) = locs.by_address.get(&id) else {
        return Ok(());
    };
    let (name, file, line_no) = if let Some((name, file, num)) = function_file_line(desc) {
        let line_no = parse_i64(num).filter(|&l| l > 0).unwrap_or(0);
        (name, file, line_no)
    } else if let Some((name, path)) = function_path(desc) {
        // A shared library path: only its name is of interest.
        (name, base_name(path), 0)
    } else if desc.contains("generated stub/JIT") {
        ("STUB", "", 0)
    } else {
        // The Java agent's internal states, such as "GC" or "VM".
        (desc, "", 0)
    };
    let f = *functions.entry(name.to_owned()).or_insert_with(|| {
        raw.functions.push(RawFunction {
            name: name.to_owned(),
            system_name: name.to_owned(),
            filename: file.to_owned(),
        });
        raw.functions.len() - 1
    });
    let l = &mut raw.locations[loc];
    l.lines = vec![(f, line_no)];
    l.address = 0;
    Ok(())
}

/// Positions of `(` preceded by whitespace in a line ending with `)`, rightmost first:
/// where pprof's greedy `^(.*)\s+\((…)\)$` can split.
fn paren_splits(s: &str) -> impl Iterator<Item = (&str, &str)> {
    let ok = s.ends_with(')');
    let b = s.as_bytes();
    (1..s.len().saturating_sub(1))
        .rev()
        .filter(move |&j| ok && b[j] == b'(' && is_go_space(b[j - 1]))
        .map(move |j| (&s[..j - 1], &s[j + 1..s.len() - 1]))
}

/// pprof's `^(.*)\s+\((.+):(-?[[:digit:]]+)\)$` → (function, file, line).
fn function_file_line(s: &str) -> Option<(&str, &str, &str)> {
    paren_splits(s).find_map(|(name, inner)| {
        let (file, num) = inner.rsplit_once(':')?;
        let digits = num.strip_prefix('-').unwrap_or(num);
        (!file.is_empty() && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then_some((name, file, num))
    })
}

/// pprof's `^(.*)\s+\((.*)\)$` → (function, path).
fn function_path(s: &str) -> Option<(&str, &str)> {
    paren_splits(s).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes() {
        assert_eq!(attribute("format = java"), Some(("format", "java")));
        assert_eq!(attribute("x: sampling period = 100"), Some(("sampling period", "100")));
        assert_eq!(attribute("1 2 @ 0x1"), None);
    }

    #[test]
    fn records() {
        assert_eq!(
            record("7048     1 @ 0x00000003 0x0000000a"),
            Some(["7048", "1", "0x00000003 0x0000000a"])
        );
        // A later pair of numbers matches when the first does not.
        assert_eq!(record("1 2 3 @ 0x1"), Some(["2", "3", "0x1"]));
        assert_eq!(record("format = java"), None);
    }

    #[test]
    fn location_descriptions() {
        assert_eq!(
            function_file_line("com.example.f (Source.java:103)"),
            Some(("com.example.f", "Source.java", "103"))
        );
        assert_eq!(function_file_line("f (a (b:1)"), Some(("f (a", "b", "1")));
        assert_eq!(function_file_line("GC"), None);
        assert_eq!(function_path("Java_f (/usr/lib/libx.so)"), Some(("Java_f", "/usr/lib/libx.so")));
        assert_eq!(function_path("f ()"), Some(("f", "")));
    }
}
