//! Folded stacks: one line per distinct stack, root-first frames joined by ';'
//! and the stack's value (Brendan Gregg's format, which inferno, speedscope and
//! most flame-graph tools read).

use std::fmt;

use crate::report::{Granularity, Report, Traces};

/// The folded stacks of a report, sorted by stack, one entry per distinct stack;
/// stacks whose values add up to zero are left out. Inlined frames are frames of
/// their own. A ';' inside a frame name (Rust's `[u8; 4]`) becomes ',' and line
/// breaks become spaces, so that every line parses back to the same frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// `(stack, value)`, frames root first, in the sample type's unit.
    pub stacks: Vec<(String, i64)>,
}

impl Folded {
    /// The folded stacks of `report`'s samples (after its filters), with frames
    /// grouped at `granularity`.
    pub fn new(report: &Report, granularity: Granularity) -> Folded {
        Folded::from_traces(&report.traces(granularity))
    }

    /// The folded stacks of a traces report.
    pub fn from_traces(traces: &Traces) -> Folded {
        let names: Vec<String> = traces.names.iter().map(|n| frame_name(n)).collect();
        let mut stacks: Vec<(String, i64)> = Vec::with_capacity(traces.traces.len());
        for t in &traces.traces {
            if t.value == 0 {
                continue;
            }
            let mut stack = String::new();
            for (i, f) in t.frames.iter().rev().enumerate() {
                if i > 0 {
                    stack.push(';');
                }
                stack.push_str(names.get(f.node as usize).map_or("?", String::as_str));
            }
            stacks.push((stack, t.value));
        }
        stacks.sort_unstable();
        // Samples that differ only in labels (or in frames merged at this
        // granularity) fold into one line.
        let mut out: Vec<(String, i64)> = Vec::with_capacity(stacks.len());
        for (stack, value) in stacks {
            match out.last_mut() {
                Some((last, sum)) if *last == stack => *sum = sum.wrapping_add(value),
                _ => out.push((stack, value)),
            }
        }
        out.retain(|(_, v)| *v != 0);
        Folded { stacks: out }
    }

    /// The same stacks with their frames in reverse order (leaf first), sorted
    /// again: a flame graph of these merges stacks by allocation site.
    pub fn reversed(&self) -> Folded {
        let mut stacks: Vec<(String, i64)> =
            self.stacks.iter().map(|(s, v)| (s.split(';').rev().collect::<Vec<_>>().join(";"), *v)).collect();
        stacks.sort_unstable();
        Folded { stacks }
    }

    /// The sum of the values.
    pub fn total(&self) -> i64 {
        self.stacks.iter().fold(0i64, |t, (_, v)| t.wrapping_add(*v))
    }

    /// Writes one `stack value` line per stack.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        for (stack, value) in &self.stacks {
            writeln!(w, "{stack} {value}")?;
        }
        Ok(())
    }
}

/// Two folded profiles side by side, the input of a differential flame graph:
/// `(stack, base value, new value)`, sorted by stack, with 0 where a stack is in
/// one profile only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffFolded {
    /// `(stack, base, new)`, sorted by stack.
    pub stacks: Vec<(String, i64, i64)>,
}

impl DiffFolded {
    /// Pairs the stacks of `base` and `new` (both sorted, as [`Folded`] keeps them).
    pub fn new(base: &Folded, new: &Folded) -> DiffFolded {
        let (mut b, mut n) = (base.stacks.iter().peekable(), new.stacks.iter().peekable());
        let mut stacks = Vec::with_capacity(base.stacks.len().max(new.stacks.len()));
        loop {
            let next = match (b.peek(), n.peek()) {
                (None, None) => break,
                (Some((bs, _)), Some((ns, _))) => bs.cmp(ns),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
            };
            let row = match next {
                std::cmp::Ordering::Less => b.next().map(|(s, v)| (s.clone(), *v, 0)),
                std::cmp::Ordering::Greater => n.next().map(|(s, v)| (s.clone(), 0, *v)),
                std::cmp::Ordering::Equal => {
                    b.next().zip(n.next()).map(|((s, bv), (_, nv))| (s.clone(), *bv, *nv))
                }
            };
            stacks.extend(row);
        }
        DiffFolded { stacks }
    }

    /// The totals of the base and of the new profile.
    pub fn totals(&self) -> (i64, i64) {
        self.stacks
            .iter()
            .fold((0i64, 0i64), |(b, n), (_, bv, nv)| (b.wrapping_add(*bv), n.wrapping_add(*nv)))
    }

    /// Writes one `stack base new` line per stack.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        for (stack, base, new) in &self.stacks {
            writeln!(w, "{stack} {base} {new}")?;
        }
        Ok(())
    }
}

/// A frame name that cannot break the folded format.
fn frame_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ';' => ',',
            '\n' | '\r' | '\t' => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(lines: &[(&str, i64)]) -> Folded {
        Folded { stacks: lines.iter().map(|(s, v)| (s.to_string(), *v)).collect() }
    }

    #[test]
    fn inlined_frames_are_frames_of_their_own() {
        use crate::report::{ReportOptions, View};
        use crate::{Line, ProfileBuilder, Sample};
        let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
        let main = b.function("main", "", "main.rs", 1);
        let outer = b.function("outer", "", "lib.rs", 10);
        let inner = b.function("inner", "", "lib.rs", 20);
        let line = |function_id, line| Line { function_id, line, column: 0 };
        // One address: `inner` inlined into `outer` (callee first).
        let leaf = b.add_location(0, 0x2000, vec![line(inner, 21), line(outer, 11)]);
        let root = b.add_location(0, 0x1000, vec![line(main, 2)]);
        let samples = &mut b.profile_mut().sample;
        samples.push(Sample { location_id: vec![leaf, root], value: vec![100], label: vec![] });
        samples.push(Sample { location_id: vec![root], value: vec![7], label: vec![] });
        let view = View::from_profiles(&[&b.finish()]).unwrap();
        let report = Report::new(view, &ReportOptions::default()).unwrap();
        assert_eq!(
            folded(&[("main", 7), ("main;outer;inner", 100)]),
            Folded::new(&report, Granularity::Functions)
        );
    }

    #[test]
    fn names_cannot_break_lines() {
        assert_eq!(frame_name("<[u8; 4] as Foo>::bar\nx"), "<[u8, 4] as Foo>::bar x");
    }

    #[test]
    fn reversed_puts_leaves_first() {
        let f = folded(&[("a;b", 5), ("c;b", 3), ("z", 1)]).reversed();
        assert_eq!(f, folded(&[("b;a", 5), ("b;c", 3), ("z", 1)]));
    }

    #[test]
    fn differential_pairs_sorted_stacks() {
        let base = folded(&[("a;b", 5), ("a;c", 3)]);
        let new = folded(&[("a;b", 7), ("a;d", 1)]);
        let d = DiffFolded::new(&base, &new);
        let rows: Vec<(&str, i64, i64)> = d.stacks.iter().map(|(s, b, n)| (s.as_str(), *b, *n)).collect();
        assert_eq!(rows, vec![("a;b", 5, 7), ("a;c", 3, 0), ("a;d", 0, 1)]);
        assert_eq!(d.totals(), (8, 8));
        let mut text = String::new();
        d.write_text(&mut text).unwrap();
        assert_eq!(text, "a;b 5 7\na;c 3 0\na;d 0 1\n");
    }
}
