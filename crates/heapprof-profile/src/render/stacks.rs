//! Stacks as sequences of interned frame names, kept in the order their folded
//! text ("root;…;leaf") sorts in, without building that text: flame graphs of
//! hundreds of thousands of deep stacks would otherwise sort hundreds of
//! megabytes of strings.
//!
//! The order is the byte order of the text. Frame names hold no ';', so the text
//! of a stack is its names each followed by ';', except the leaf's, followed by
//! the end of the line; two stacks compare at their first differing frame, by
//! that name and what follows it. [`StackSet`] ranks every name once in each
//! of the two positions and then compares stacks frame id by frame id.

use std::cmp::Ordering;
use std::fmt;

use crate::report::{StackArena, StackRef, Strings};

/// A value carried by a stack: one number, or a (base, new) pair.
pub(crate) trait StackValue: Copy {
    /// The sum of two values of the same stack (wrapping, as profiles add up).
    fn add(self, other: Self) -> Self;
    /// Whether the stack is left out: its values add up to nothing.
    fn is_zero(self) -> bool;
}

impl StackValue for i64 {
    fn add(self, other: i64) -> i64 {
        self.wrapping_add(other)
    }

    fn is_zero(self) -> bool {
        self == 0
    }
}

impl StackValue for (i64, i64) {
    fn add(self, other: (i64, i64)) -> (i64, i64) {
        (self.0.wrapping_add(other.0), self.1.wrapping_add(other.1))
    }

    fn is_zero(self) -> bool {
        self == (0, 0)
    }
}

/// A stack and its value.
#[derive(Debug, Clone, Copy)]
struct Entry<V> {
    stack: StackRef,
    value: V,
}

/// Distinct stacks with their values, in the order of their folded text once
/// [`StackSet::finish`]ed.
#[derive(Debug, Clone)]
pub(crate) struct StackSet<V> {
    /// Frame names, made safe for the folded format.
    names: Strings,
    /// Per name: its rank as an inner frame (followed by ';') and as the leaf.
    ranks: Vec<[u32; 2]>,
    /// Every stack's frames, root first (in chunks that reuse the memory the
    /// decoded profile freed).
    frames: StackArena,
    entries: Vec<Entry<V>>,
}

impl<V> Default for StackSet<V> {
    fn default() -> Self {
        StackSet {
            names: Strings::default(),
            ranks: Vec::new(),
            frames: StackArena::default(),
            entries: Vec::new(),
        }
    }
}

impl<V: StackValue> StackSet<V> {
    /// The id of frame `name` (a ';' in it becomes ',' and line breaks spaces, so
    /// that every folded line parses back to the same frames).
    pub(crate) fn intern(&mut self, name: &str) -> u32 {
        if name.contains([';', '\n', '\r', '\t']) {
            self.names.intern(&frame_name(name))
        } else {
            self.names.intern(name)
        }
    }

    /// Adds a stack (frame ids, root first) with its value.
    pub(crate) fn push(&mut self, frames: impl ExactSizeIterator<Item = u32>, value: V) {
        let stack = self.frames.add(frames);
        self.entries.push(Entry { stack, value });
    }

    /// Sorts the stacks, adds up the values of equal ones and drops those that
    /// come to zero.
    pub(crate) fn finish(mut self) -> Self {
        self.ranks = ranks(&self.names);
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable_by(|a, b| self.cmp_stacks(self.get(a), self.get(b)));
        let mut merged: Vec<Entry<V>> = Vec::with_capacity(entries.len());
        for e in entries {
            match merged.last_mut() {
                Some(last) if self.get(last) == self.get(&e) => last.value = last.value.add(e.value),
                _ => merged.push(e),
            }
        }
        merged.retain(|e| !e.value.is_zero());
        self.entries = merged;
        self
    }

    /// A set with the same names and no stacks, to fill with [`StackSet::push`].
    pub(crate) fn empty_like<W>(&self) -> StackSet<W> {
        StackSet {
            names: self.names.clone(),
            ranks: Vec::new(),
            frames: StackArena::default(),
            entries: Vec::new(),
        }
    }

    /// The same stacks with their frames in reverse order, sorted again.
    pub(crate) fn reversed(&self) -> StackSet<V> {
        let mut out = self.empty_like();
        for (frames, value) in self.iter() {
            out.push(frames.iter().rev().copied(), value);
        }
        out.finish()
    }

    /// The stacks (frame ids, root first) and their values, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u32], V)> + Clone + '_ {
        self.entries.iter().map(|e| (self.get(e), e.value))
    }

    /// The ids of this set's names in `other`, which gains those it lacks.
    pub(crate) fn map_names<W: StackValue>(&self, other: &mut StackSet<W>) -> Vec<u32> {
        (0..self.names.len() as u32).map(|id| other.names.intern(self.name(id))).collect()
    }

    fn get(&self, e: &Entry<V>) -> &[u32] {
        self.frames.get(&e.stack)
    }

    /// How two stacks' folded texts compare.
    fn cmp_stacks(&self, a: &[u32], b: &[u32]) -> Ordering {
        let i = shared_frames(a, b);
        if i < a.len() && i < b.len() {
            self.rank(a, i).cmp(&self.rank(b, i))
        } else {
            // A stack sorts before the stacks it is a prefix of.
            a.len().cmp(&b.len())
        }
    }

    fn rank(&self, stack: &[u32], i: usize) -> u32 {
        self.ranks[stack[i] as usize][usize::from(i + 1 == stack.len())]
    }
}

impl<V> StackSet<V> {
    /// How many stacks there are.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The name of frame `id`.
    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id)
    }

    /// Every frame name (ids `0..`), including ones no stack uses.
    #[cfg(feature = "flamegraph")]
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        (0..self.names.len() as u32).map(|id| self.names.get(id))
    }

    /// Writes a stack's folded text (names joined by ';').
    pub(crate) fn write_stack(&self, frames: &[u32], w: &mut (impl fmt::Write + ?Sized)) -> fmt::Result {
        for (i, &f) in frames.iter().enumerate() {
            if i > 0 {
                w.write_char(';')?;
            }
            w.write_str(self.names.get(f))?;
        }
        Ok(())
    }

    /// A stack's folded text.
    pub(crate) fn stack_text(&self, frames: &[u32]) -> String {
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = self.write_stack(frames, &mut s);
        s
    }
}

/// How many frames from the root `a` and `b` have in common. Stacks share long
/// prefixes (everything from `main` down), so this compares eight frames at a
/// time.
pub(crate) fn shared_frames(a: &[u32], b: &[u32]) -> usize {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        if x.iter().zip(y).fold(0, |diff, (p, q)| diff | (p ^ q)) != 0 {
            break;
        }
        i += LANES;
    }
    i + a[i..].iter().zip(&b[i..]).take_while(|(x, y)| x == y).count()
}

/// Per name, its rank among all names followed by ';' or by the end of the line
/// (which sorts before every byte): `[inner, leaf]`.
fn ranks(names: &Strings) -> Vec<[u32; 2]> {
    let mut tokens: Vec<(u32, bool)> =
        (0..names.len() as u32).flat_map(|id| [(id, false), (id, true)]).collect();
    tokens.sort_unstable_by(|&(a, a_leaf), &(b, b_leaf)| {
        cmp_token(names.get(a).as_bytes(), a_leaf, names.get(b).as_bytes(), b_leaf)
    });
    let mut ranks = vec![[0u32; 2]; names.len()];
    for (rank, &(id, leaf)) in tokens.iter().enumerate() {
        ranks[id as usize][usize::from(leaf)] = rank as u32;
    }
    ranks
}

/// How `a` then ';' (or the end, for a leaf) compares with the same for `b`.
fn cmp_token(a: &[u8], a_leaf: bool, b: &[u8], b_leaf: bool) -> Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        // One name is a prefix of the other: what follows it decides (names hold
        // no ';', so only equal names can both be followed by one).
        let next = |s: &[u8], leaf: bool| match s.get(n) {
            Some(&c) => u16::from(c) + 1,
            None if leaf => 0,
            None => u16::from(b';') + 1,
        };
        next(a, a_leaf).cmp(&next(b, b_leaf))
    })
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

    /// A set of `(stack text, value)`, frames split at ';'.
    fn set(stacks: &[(&str, i64)]) -> StackSet<i64> {
        let mut s = StackSet::default();
        for (text, value) in stacks {
            let frames: Vec<u32> =
                if text.is_empty() { Vec::new() } else { text.split(';').map(|f| s.intern(f)).collect() };
            s.push(frames.into_iter(), *value);
        }
        s.finish()
    }

    fn texts(s: &StackSet<i64>) -> Vec<(String, i64)> {
        s.iter().map(|(f, v)| (s.stack_text(f), v)).collect()
    }

    #[test]
    fn order_is_the_byte_order_of_the_text() {
        // Names that are prefixes of others, bytes on either side of ';' and of
        // ' ', an empty stack, multi-byte characters.
        let names = ["b", "b.x", "b;y", "bc", "b y", "b!", "a", "", "é", "b\u{1}", "ba", "z"];
        let mut stacks = Vec::new();
        for (i, x) in names.iter().enumerate() {
            stacks.push((x.to_string(), i as i64 + 1));
            for (j, y) in names.iter().enumerate().filter(|(_, y)| !y.is_empty()) {
                if !x.is_empty() {
                    stacks.push((format!("{x};{y}"), (i * 100 + j) as i64 + 1));
                    stacks.push((format!("{x};{y};{x}"), 7));
                }
            }
        }
        let refs: Vec<(&str, i64)> = stacks.iter().map(|(s, v)| (s.as_str(), *v)).collect();
        let got = texts(&set(&refs));
        // The old way: whole strings ("b;y" is the frame "b,y").
        let mut want: Vec<(String, i64)> = Vec::new();
        for (s, v) in &stacks {
            let s = if s.is_empty() {
                String::new()
            } else {
                s.split(';').map(frame_name).collect::<Vec<_>>().join(";")
            };
            want.push((s, *v));
        }
        want.sort();
        want.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        assert_eq!(got, want);
    }

    #[test]
    fn shared_frames_counts_the_common_prefix() {
        let a: Vec<u32> = (0..40).collect();
        for i in 0..=40 {
            let mut b = a.clone();
            if i < 40 {
                b[i] = 99;
            }
            assert_eq!(shared_frames(&a, &b), i);
            assert_eq!(shared_frames(&a[..i], &a), i);
        }
        assert_eq!(shared_frames(&[], &a), 0);
    }

    #[test]
    fn equal_stacks_add_up_and_zero_sums_go() {
        let s = set(&[("a;b", 5), ("a;c", 3), ("a;b", 2), ("a;c", -3), ("a", 0)]);
        assert_eq!(texts(&s), vec![("a;b".to_string(), 7)]);
    }

    #[test]
    fn reversed_sorts_again() {
        let s = set(&[("a;b", 5), ("c;b", 3), ("z", 1)]).reversed();
        assert_eq!(texts(&s), vec![("b;a".to_string(), 5), ("b;c".to_string(), 3), ("z".to_string(), 1)]);
    }

    #[test]
    fn names_cannot_break_lines() {
        let mut s = StackSet::<i64>::default();
        let id = s.intern("<[u8; 4] as Foo>::bar\nx");
        assert_eq!(s.name(id), "<[u8, 4] as Foo>::bar x");
        assert_eq!(s.intern("<[u8, 4] as Foo>::bar x"), id);
    }
}
