//! Folded stacks: one line per distinct stack, root-first frames joined by ';'
//! and the stack's value (Brendan Gregg's format, which inferno, speedscope and
//! most flame-graph tools read). The stacks are kept as interned frame ids and
//! their text is only written out, line by line.

use std::fmt;

use super::stacks::StackSet;
use crate::report::{Granularity, Report, SampleStacks, Traces};

/// The folded stacks of a report, sorted by their text, one entry per distinct
/// stack; stacks whose values add up to zero are left out. Inlined frames are
/// frames of their own. A ';' inside a frame name (Rust's `[u8; 4]`) becomes ','
/// and line breaks become spaces, so that every line parses back to the same
/// frames.
#[derive(Debug, Clone, Default)]
pub struct Folded {
    pub(super) set: StackSet<i64>,
}

impl Folded {
    /// The folded stacks of `report`'s samples (after its filters), with frames
    /// grouped at `granularity`.
    pub fn new(report: &Report, granularity: Granularity) -> Folded {
        let stacks = SampleStacks::new(report, granularity);
        let mut set = StackSet::default();
        let ids: Vec<u32> = stacks.names().iter().map(|n| set.intern(n)).collect();
        stacks.for_each(|_, value, frames| {
            if value != 0 {
                set.push(frames.iter().rev().map(|f| ids[f.node as usize]), value);
            }
        });
        Folded { set: set.finish() }
    }

    /// The folded stacks of a traces report.
    pub fn from_traces(traces: &Traces) -> Folded {
        let mut set = StackSet::default();
        let ids: Vec<u32> = traces.names.iter().map(|n| set.intern(n)).collect();
        let unknown = set.intern("?");
        for t in traces.traces.iter().filter(|t| t.value != 0) {
            set.push(
                t.frames.iter().rev().map(|f| ids.get(f.node as usize).copied().unwrap_or(unknown)),
                t.value,
            );
        }
        Folded { set: set.finish() }
    }

    /// Folded stacks from `(stack, value)` pairs, frames split at ';' (the lines
    /// of a folded file), sorted and added up as [`Folded::new`] does.
    pub fn from_stacks<'a>(stacks: impl IntoIterator<Item = (&'a str, i64)>) -> Folded {
        let mut set = StackSet::default();
        let mut frames = Vec::new();
        for (stack, value) in stacks {
            frames.clear();
            if !stack.is_empty() {
                frames.extend(stack.split(';').map(|f| set.intern(f)));
            }
            if value != 0 {
                set.push(frames.iter().copied(), value);
            }
        }
        Folded { set: set.finish() }
    }

    /// The same stacks with their frames in reverse order (leaf first), sorted
    /// again: a flame graph of these merges stacks by allocation site.
    pub fn reversed(&self) -> Folded {
        Folded { set: self.set.reversed() }
    }

    /// The sum of the values.
    pub fn total(&self) -> i64 {
        self.set.iter().fold(0i64, |t, (_, v)| t.wrapping_add(v))
    }

    /// How many distinct stacks there are.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether there are no stacks.
    pub fn is_empty(&self) -> bool {
        self.set.len() == 0
    }

    /// The stacks as text (`root;…;leaf`) with their values, in order.
    pub fn stacks(&self) -> impl Iterator<Item = (String, i64)> + '_ {
        self.set.iter().map(|(frames, v)| (self.set.stack_text(frames), v))
    }

    /// Writes one `stack value` line per stack.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        for (frames, value) in self.set.iter() {
            self.set.write_stack(frames, w)?;
            writeln!(w, " {value}")?;
        }
        Ok(())
    }
}

impl PartialEq for Folded {
    fn eq(&self, other: &Folded) -> bool {
        self.len() == other.len() && self.stacks().eq(other.stacks())
    }
}

impl Eq for Folded {}

/// Two folded profiles side by side, the input of a differential flame graph:
/// `(stack, base value, new value)`, sorted by stack, with 0 where a stack is in
/// one profile only.
#[derive(Debug, Clone, Default)]
pub struct DiffFolded {
    pub(super) set: StackSet<(i64, i64)>,
}

impl DiffFolded {
    /// Pairs the stacks of `base` and `new`.
    pub fn new(base: &Folded, new: &Folded) -> DiffFolded {
        let mut set = new.set.empty_like::<(i64, i64)>();
        let base_ids = base.set.map_names(&mut set);
        for (frames, value) in new.set.iter() {
            set.push(frames.iter().copied(), (0, value));
        }
        for (frames, value) in base.set.iter() {
            set.push(frames.iter().map(|&f| base_ids[f as usize]), (value, 0));
        }
        DiffFolded { set: set.finish() }
    }

    /// The totals of the base and of the new profile.
    pub fn totals(&self) -> (i64, i64) {
        self.set.iter().fold((0i64, 0i64), |(b, n), (_, (bv, nv))| (b.wrapping_add(bv), n.wrapping_add(nv)))
    }

    /// How many distinct stacks there are.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether there are no stacks.
    pub fn is_empty(&self) -> bool {
        self.set.len() == 0
    }

    /// The stacks as text with their base and new values, in order.
    pub fn stacks(&self) -> impl Iterator<Item = (String, i64, i64)> + '_ {
        self.set.iter().map(|(frames, (b, n))| (self.set.stack_text(frames), b, n))
    }

    /// Writes one `stack base new` line per stack.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        for (frames, (base, new)) in self.set.iter() {
            self.set.write_stack(frames, w)?;
            writeln!(w, " {base} {new}")?;
        }
        Ok(())
    }
}

impl PartialEq for DiffFolded {
    fn eq(&self, other: &DiffFolded) -> bool {
        self.len() == other.len() && self.stacks().eq(other.stacks())
    }
}

impl Eq for DiffFolded {}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(lines: &[(&str, i64)]) -> Folded {
        Folded::from_stacks(lines.iter().copied())
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
        let f = Folded::new(&report, Granularity::Functions);
        assert_eq!(folded(&[("main", 7), ("main;outer;inner", 100)]), f);
        assert_eq!(f, Folded::from_traces(&report.traces(Granularity::Functions)));
    }

    #[test]
    fn reversed_puts_leaves_first() {
        let f = folded(&[("a;b", 5), ("c;b", 3), ("z", 1)]).reversed();
        assert_eq!(f, folded(&[("b;a", 5), ("b;c", 3), ("z", 1)]));
    }

    #[test]
    fn differential_pairs_sorted_stacks() {
        let base = folded(&[("a;b", 5), ("a;c", 3), ("x;y", 2)]);
        let new = folded(&[("a;b", 7), ("a;d", 1)]);
        let d = DiffFolded::new(&base, &new);
        let rows: Vec<(String, i64, i64)> = d.stacks().collect();
        let row = |s: &str, b, n| (s.to_string(), b, n);
        assert_eq!(rows, vec![row("a;b", 5, 7), row("a;c", 3, 0), row("a;d", 0, 1), row("x;y", 2, 0)]);
        assert_eq!(d.totals(), (10, 8));
        let mut text = String::new();
        d.write_text(&mut text).unwrap();
        assert_eq!(text, "a;b 5 7\na;c 3 0\na;d 0 1\nx;y 2 0\n");
    }
}
