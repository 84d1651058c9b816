//! The folded lines a flame graph is drawn from, cut down to what inferno can
//! show. inferno merges sorted lines into frames, then drops every frame narrower
//! than `min_width` percent of the total before drawing; each run of lines under
//! such a frame is handed over as one line instead, so that inferno never holds
//! (nor we write) hundreds of thousands of deep stacks. The SVG is the same,
//! byte for byte: the drawn frames keep their places, widths and colours.
//!
//! This follows what inferno 0.12 does with each line: trim it, read the last
//! (and for a differential graph the last two) numbers, split the rest at ';',
//! merge frames with the previous line's while the names agree, and check that
//! lines come sorted. Where a frame name could be read differently (white space
//! at its ends, a trailing number, a leading '#', an empty name or stack), all
//! lines are handed over unchanged.

use std::fmt::Write as _;

use super::stacks::{StackSet, shared_frames};

/// One folded line: frames root first, the value drawn (the new value of a
/// differential graph) and, for a differential graph, the base value.
#[derive(Debug, Clone, Copy)]
pub(super) struct FlameLine<'a> {
    pub(super) frames: &'a [u32],
    pub(super) value: u64,
    pub(super) base: Option<u64>,
}

impl FlameLine<'_> {
    /// The difference inferno colours by: new minus base, as it computes it.
    fn delta(&self) -> u64 {
        self.base.map_or(0, |b| (self.value as i64).wrapping_sub(b as i64).unsigned_abs())
    }
}

/// The text of `lines` (sorted, names from `set`) for inferno, with the lines
/// under frames narrower than `min_width` percent of the total merged.
pub(super) fn inferno_input<'a, V>(
    set: &StackSet<V>,
    lines: impl Iterator<Item = FlameLine<'a>> + Clone,
    min_width: f64,
) -> FlameText {
    let mut out = Text::default();
    let total = lines.clone().fold(0u64, |t, l| t.wrapping_add(l.value));
    let plain_names: Vec<bool> = set.names().map(plain_name).collect();
    let plain =
        lines.clone().all(|l| !l.frames.is_empty() && l.frames.iter().all(|&f| plain_names[f as usize]));
    if !plain || total == 0 {
        for l in lines {
            out.line(set, l.frames, l.value, l.base);
        }
        return out.text;
    }
    // inferno's test, on the same numbers: a frame is dropped when
    // `(end - start) as f64 < min_width / (100 / total)`.
    let min_time = min_width / (100.0 / total as f64);
    let wide = wide_runs(lines.clone(), min_time);

    // Whether the frames open at the previous line (`previous`) are drawn.
    let mut open: Vec<bool> = Vec::new();
    let mut previous: &[u32] = &[];
    let mut runs = wide.iter().copied();
    let mut narrow: Option<Narrow> = None;
    for l in lines {
        let shared = shared_frames(previous, l.frames);
        previous = l.frames;
        // A narrow run ends where a line leaves its frame.
        if let Some(n) = narrow.take_if(|n| shared <= n.depth) {
            out.narrow(set, &n);
        }
        open.truncate(shared);
        open.extend(l.frames[shared..].iter().map(|_| runs.next().unwrap_or(true)));
        if let Some(n) = &mut narrow {
            n.value = n.value.wrapping_add(l.value);
            n.delta = n.delta.max(l.delta());
            continue;
        }
        // Frames above `shared` are drawn: a narrow one would have started a run.
        match open[shared..].iter().position(|&drawn| !drawn) {
            Some(k) => {
                narrow = Some(Narrow { depth: shared + k, first: l, value: l.value, delta: l.delta() })
            }
            None => out.line(set, l.frames, l.value, l.base),
        }
    }
    if let Some(n) = narrow {
        out.narrow(set, &n);
    }
    out.text
}

/// The lines under a frame too narrow to draw, merged.
struct Narrow<'a> {
    /// The frame's depth (index in the stacks).
    depth: usize,
    /// The run's first line.
    first: FlameLine<'a>,
    /// The sum of the run's values.
    value: u64,
    /// The largest delta of its lines (inferno scales the colours of a
    /// differential graph by the largest).
    delta: u64,
}

/// Per frame inferno makes of `lines`, in the order it opens them, whether it
/// is drawn (at least `min_time` wide).
fn wide_runs<'a>(lines: impl Iterator<Item = FlameLine<'a>>, min_time: f64) -> Vec<bool> {
    let mut wide: Vec<bool> = Vec::new();
    // The frames open at the previous line (`previous`): (start time, index in
    // `wide`).
    let mut open: Vec<(u64, usize)> = Vec::new();
    let mut previous: &[u32] = &[];
    let mut time = 0u64;
    let close = |open: &mut Vec<(u64, usize)>, wide: &mut Vec<bool>, depth: usize, time: u64| {
        for (start, run) in open.drain(depth..) {
            wide[run] = time.wrapping_sub(start) as f64 >= min_time;
        }
    };
    for l in lines {
        let shared = shared_frames(previous, l.frames);
        previous = l.frames;
        close(&mut open, &mut wide, shared, time);
        for _ in shared..l.frames.len() {
            open.push((time, wide.len()));
            wide.push(false);
        }
        time = time.wrapping_add(l.value);
    }
    close(&mut open, &mut wide, 0, time);
    wide
}

/// Whether inferno reads `name`, wherever it is in a line, as that frame.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.trim() == name
        && !name.starts_with('#')
        // "f 12" at the end of a line would be read as a count.
        && !name.rfind(' ').is_some_and(|i| name[i + 1..].bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

/// Bytes per block of [`FlameText`].
const BLOCK: usize = 1 << 16;

/// inferno's input: lines kept in blocks of about 64 KiB, small enough to reuse
/// the memory the profile and its report freed, where one large string would be
/// mapped beside it.
#[derive(Debug, Default)]
pub(super) struct FlameText {
    blocks: Vec<String>,
}

impl FlameText {
    /// The lines, in order.
    pub(super) fn lines(&self) -> impl Iterator<Item = &str> {
        self.blocks.iter().flat_map(|b| b.lines())
    }

    fn push(&mut self, line: &str) {
        let need = line.len() + 1;
        if self.blocks.last().is_none_or(|b| b.capacity() - b.len() < need) {
            self.blocks.push(String::with_capacity(BLOCK.max(need)));
        }
        if let Some(b) = self.blocks.last_mut() {
            b.push_str(line);
            b.push('\n');
        }
    }
}

/// Writes inferno's input line by line, remembering the last line's stack.
#[derive(Default)]
struct Text {
    text: FlameText,
    /// The line being written, and the length of its stack.
    line: String,
    line_stack: usize,
    /// The previous line, and the length of its stack.
    previous: String,
    previous_stack: usize,
}

impl Text {
    fn line<V>(&mut self, set: &StackSet<V>, frames: &[u32], value: u64, base: Option<u64>) {
        self.format(set, frames, value, base);
        self.commit();
    }

    /// One line for a narrow run: its frames down to the narrow one, its total,
    /// and a base that keeps inferno's largest delta. That stack may sort before
    /// the previous line's (`a;b` after `a;b.x`), which inferno rejects; the
    /// run's first stack, whole, never does.
    fn narrow<V>(&mut self, set: &StackSet<V>, n: &Narrow) {
        let base = n.first.base.map(|_| n.value.wrapping_add(n.delta));
        self.format(set, &n.first.frames[..=n.depth], n.value, base);
        if self.previous[..self.previous_stack] > *self.line {
            self.format(set, n.first.frames, n.value, base);
        }
        self.commit();
    }

    fn format<V>(&mut self, set: &StackSet<V>, frames: &[u32], value: u64, base: Option<u64>) {
        self.line.clear();
        // Writing into a String cannot fail.
        let _ = set.write_stack(frames, &mut self.line);
        let stack = self.line.len();
        let _ = match base {
            Some(b) => write!(self.line, " {b} {value}"),
            None => write!(self.line, " {value}"),
        };
        self.line_stack = stack;
    }

    fn commit(&mut self) {
        self.text.push(&self.line);
        std::mem::swap(&mut self.line, &mut self.previous);
        self.previous_stack = self.line_stack;
    }
}

#[cfg(test)]
mod tests {
    use inferno::flamegraph::{self, Options};

    use super::*;
    use crate::render::{DiffFolded, Folded};

    /// The SVG inferno draws from `lines`, frames under `min_width` percent dropped.
    fn svg<'a>(lines: impl IntoIterator<Item = &'a str>, min_width: f64) -> String {
        let mut o = Options::default();
        o.no_sort = true;
        o.deterministic = true;
        o.min_width = min_width;
        let mut out = Vec::new();
        flamegraph::from_lines(&mut o, lines, &mut out).expect("inferno draws it");
        String::from_utf8(out).expect("utf-8")
    }

    /// Asserts that the cut-down input draws what all the lines (`full`, the
    /// folded text) draw, and returns how many lines it has.
    fn same_picture(full: &str, cut: &FlameText, min_width: f64) -> usize {
        assert_eq!(svg(full.lines(), min_width), svg(cut.lines(), min_width), "min width {min_width}");
        cut.lines().count()
    }

    fn cut_folded(f: &Folded, min_width: f64) -> FlameText {
        let lines = f.set.iter().map(|(frames, v)| FlameLine { frames, value: v as u64, base: None });
        inferno_input(&f.set, lines, min_width)
    }

    fn cut_diff(d: &DiffFolded, min_width: f64) -> FlameText {
        let lines =
            d.set.iter().map(|(frames, (b, n))| FlameLine { frames, value: n as u64, base: Some(b as u64) });
        inferno_input(&d.set, lines, min_width)
    }

    fn text(write: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
        let mut s = String::new();
        write(&mut s).expect("formatting into a String");
        s
    }

    /// xorshift64*: the same stacks on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// Random stacks over names that are prefixes of one another and hold bytes
    /// on either side of ' ' and ';' ("b" < "b y" < "b!" < "b.x" < "b;…" < "bc").
    fn random_folded(rng: &mut Rng, stacks: usize) -> Folded {
        const NAMES: [&str; 10] = ["b", "b.x", "bc", "b y", "b!", "ba", "main", "f(x, 1)", "é", "z"];
        let mut lines = Vec::new();
        for _ in 0..stacks {
            let depth = 1 + rng.below(7) as usize;
            let stack: Vec<&str> =
                (0..depth).map(|_| NAMES[rng.below(NAMES.len() as u64) as usize]).collect();
            let value = if rng.below(10) == 0 { 1 + rng.below(5000) } else { 1 + rng.below(40) };
            lines.push((stack.join(";"), value as i64));
        }
        Folded::from_stacks(lines.iter().map(|(s, v)| (s.as_str(), *v)))
    }

    #[test]
    fn cut_input_draws_the_same_flame_graph() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut cut_lines = 0;
        let mut all_lines = 0;
        for round in 0..40 {
            let f = random_folded(&mut rng, 20 + round * 10);
            let full = text(|s| f.write_text(s));
            for min_width in [0.01, 0.5, 2.0, 10.0] {
                cut_lines += same_picture(&full, &cut_folded(&f, min_width), min_width);
                all_lines += f.len();
            }
            let r = f.reversed();
            same_picture(&text(|s| r.write_text(s)), &cut_folded(&r, 2.0), 2.0);
        }
        assert!(cut_lines * 4 < all_lines * 3, "{cut_lines} of {all_lines} lines: little was merged");
    }

    #[test]
    fn cut_input_draws_the_same_differential_flame_graph() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..30 {
            let base = random_folded(&mut rng, 20 + round * 10);
            let new = random_folded(&mut rng, 20 + round * 10);
            let d = DiffFolded::new(&base, &new);
            let full = text(|s| d.write_text(s));
            for min_width in [0.01, 1.0, 5.0] {
                same_picture(&full, &cut_diff(&d, min_width), min_width);
            }
        }
    }

    #[test]
    fn a_narrow_run_after_a_longer_name_keeps_its_whole_stack() {
        // "a;b" would sort before "a;b.x": the run's first stack is handed over.
        let f = Folded::from_stacks([("a;b", 100), ("a;b.x", 100), ("a;b;y;z", 1), ("a;b;y", 1)]);
        let cut = cut_folded(&f, 5.0);
        same_picture(&text(|s| f.write_text(s)), &cut, 5.0);
        assert_eq!(cut.lines().collect::<Vec<_>>(), ["a;b 100", "a;b.x 100", "a;b;y 2"]);
        let f = Folded::from_stacks([("a;b", 100), ("a;b.x", 100), ("a;b;y", 1), ("a;b;y;z", 1)]);
        assert_eq!(cut_folded(&f, 5.0).lines().last(), Some("a;b;y 2"));
    }

    #[test]
    fn names_inferno_reads_otherwise_pass_unchanged() {
        for name in ["f 12", " f", "f ", "# f", "f 1.5"] {
            let stacks = [("a;b", 100), ("a;c;x", 1), ("a;c;y", 1)];
            let named: Vec<(String, i64)> = stacks.iter().map(|(s, v)| (s.replace('x', name), *v)).collect();
            let f = Folded::from_stacks(named.iter().map(|(s, v)| (s.as_str(), *v)));
            let full = text(|s| f.write_text(s));
            let cut = cut_folded(&f, 5.0);
            assert_eq!(cut.lines().collect::<Vec<_>>(), full.lines().collect::<Vec<_>>(), "{name:?}");
        }
        assert!(plain_name("f(x, 1)") && plain_name("b y") && !plain_name(""));
    }
}
