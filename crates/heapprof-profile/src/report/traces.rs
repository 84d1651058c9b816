//! The `traces` report: every sample with its labels and stack, as pprof's
//! `-traces` prints them.

use std::fmt::{self, Write as _};

use serde::Serialize;

use super::graph::{Granularity, NodeOptions, NodeTable};
use super::units::scaled_label;
use super::view::{NONE, View};
use super::{Header, Report};

const SEPARATOR: &str = "-----------+-------------------------------------------------------";

/// A label of a trace: a key with string values, or numeric values with a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceLabel {
    /// The label key (`bytes`, `thread`…).
    pub key: String,
    /// String values, in order (empty for a numeric label).
    pub values: Vec<String>,
    /// Numeric values, in order (empty for a string label).
    pub numbers: Vec<i64>,
    /// Unit of the numeric values ("" for a string label).
    pub unit: String,
}

/// One frame of a trace: a node of [`Traces::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceFrame {
    /// Index of the frame's name in [`Traces::names`].
    pub node: u32,
    /// Whether this frame was inlined into the next one.
    pub inline: bool,
}

/// One sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The sample's value, in the sample type's unit.
    pub value: i64,
    /// Index of its labels in [`Traces::label_sets`].
    pub labels: u32,
    /// The stack, leaf first.
    pub frames: Vec<TraceFrame>,
}

/// A traces report. Names and label sets are stored once and shared by the
/// traces; the JSON form (schema `heapprof.traces.v1`) spells them out:
/// `{"schema", "header", "total", "traces": [{"value", "labels": [{"key",
/// "values", "numbers", "unit"}], "frames": [{"name", "inline"}]}]}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traces {
    /// About the profile.
    pub header: Header,
    /// The report total (for the header's `Duration:` line).
    pub total: i64,
    /// Node names, indexed by [`TraceFrame::node`].
    pub names: Vec<String>,
    /// Distinct label sets: string labels, then numeric labels.
    pub label_sets: Vec<Vec<TraceLabel>>,
    /// The samples, in profile order; samples without frames are left out.
    pub traces: Vec<Trace>,
}

impl Report {
    /// Every sample with its stack (pprof's `-traces`).
    pub fn traces(&self, granularity: Granularity) -> Traces {
        let view = &self.view;
        let stacks = SampleStacks::new(self, granularity);
        let units = num_label_units(view);
        let mut set_index: Vec<u32> = vec![NONE; view.label_sets.len()];
        let mut label_sets = Vec::new();
        let mut traces = Vec::new();
        stacks.for_each(|i, value, frames| {
            let labels = view.samples[i].labels;
            let slot = &mut set_index[labels as usize];
            if *slot == NONE {
                *slot = label_sets.len() as u32;
                label_sets.push(trace_labels(view, labels, &units));
            }
            traces.push(Trace { value, labels: *slot, frames: frames.to_vec() });
        });
        Traces { header: self.header(), total: self.total, names: stacks.names(), label_sets, traces }
    }
}

/// The samples' stacks as report nodes at one granularity: what traces and flame
/// graphs are drawn from, walked without keeping every stack.
pub(crate) struct SampleStacks<'r> {
    report: &'r Report,
    table: NodeTable,
}

impl<'r> SampleStacks<'r> {
    pub(crate) fn new(report: &'r Report, granularity: Granularity) -> SampleStacks<'r> {
        let table = NodeTable::new(&report.view, &NodeOptions { granularity, ..NodeOptions::default() });
        SampleStacks { report, table }
    }

    /// The printable name of each node, indexed by [`TraceFrame::node`].
    pub(crate) fn names(&self) -> Vec<String> {
        (0..self.table.len() as u32).map(|n| self.table.printable_name(n)).collect()
    }

    /// Calls `visit` with the index, value and frames (leaf first) of every
    /// sample, in profile order; samples without frames are left out.
    pub(crate) fn for_each(&self, mut visit: impl FnMut(usize, i64, &[TraceFrame])) {
        let (view, index) = (&self.report.view, self.report.index);
        let mut frames = Vec::new();
        for (i, s) in view.samples.iter().enumerate() {
            frames.clear();
            for &loc in view.stack(s) {
                let nodes = self.table.nodes_of(loc);
                for (k, &node) in nodes.iter().enumerate() {
                    frames.push(TraceFrame { node, inline: k + 1 != nodes.len() });
                }
            }
            if !frames.is_empty() {
                visit(i, view.value(i, index), &frames);
            }
        }
    }
}

/// The unit of each numeric label key (pprof's `NumLabelUnits`): the first unit
/// seen with it, else `bytes` for `alignment`/`request`, else the key itself.
pub(crate) fn num_label_units(view: &View) -> Vec<(String, String)> {
    let mut units: Vec<(u32, u32)> = Vec::new();
    let mut used = vec![false; view.label_sets.len()];
    for s in &view.samples {
        used[s.labels as usize] = true;
    }
    for (set, _) in view.label_sets.iter().zip(&used).filter(|(_, u)| **u) {
        for &(key, _, unit) in &set.nums {
            match units.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) if slot.1 == 0 => slot.1 = unit,
                Some(_) => {}
                None => units.push((key, unit)),
            }
        }
    }
    units
        .into_iter()
        .map(|(k, u)| {
            let key = view.str(k).to_string();
            let unit = match (view.str(u), key.as_str()) {
                ("", "alignment" | "request") => "bytes".to_string(),
                ("", _) => key.clone(),
                (u, _) => u.to_string(),
            };
            (key, unit)
        })
        .collect()
}

pub(crate) fn unit_of<'a>(units: &'a [(String, String)], key: &'a str) -> &'a str {
    units.iter().find(|(k, _)| k == key).map_or(key, |(_, u)| u.as_str())
}

fn trace_labels(view: &View, set: u32, units: &[(String, String)]) -> Vec<TraceLabel> {
    let set = &view.label_sets[set as usize];
    let mut labels: Vec<TraceLabel> = Vec::new();
    for &(k, v) in &set.strs {
        let key = view.str(k);
        match labels.last_mut().filter(|l| l.key == key) {
            Some(l) => l.values.push(view.str(v).to_string()),
            None => labels.push(TraceLabel {
                key: key.to_string(),
                values: vec![view.str(v).to_string()],
                numbers: Vec::new(),
                unit: String::new(),
            }),
        }
    }
    let strings = labels.len();
    for &(k, n, _) in &set.nums {
        let key = view.str(k);
        match labels[strings..].iter_mut().find(|l| l.key == key) {
            Some(l) => l.numbers.push(n),
            None => labels.push(TraceLabel {
                key: key.to_string(),
                values: Vec::new(),
                numbers: vec![n],
                unit: unit_of(units, key).to_string(),
            }),
        }
    }
    labels
}

impl TraceLabel {
    /// The label's line in pprof's layout (`     bytes:  1.20MB`).
    fn line(&self) -> String {
        let values = if self.numbers.is_empty() {
            self.values.join(" ")
        } else {
            self.numbers.iter().map(|&n| scaled_label(n, &self.unit, "auto")).collect::<Vec<_>>().join(" ")
        };
        format!("{:>10}:  {values}", self.key)
    }
}

impl Traces {
    /// Prints the report in pprof's `-traces` layout.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let unit = &self.header.sample_unit;
        for line in self.header.lines(self.total, "minimum") {
            writeln!(w, "{line}")?;
        }
        // Each label set's lines once, string labels then numeric ones, each group
        // sorted; then one write per trace (millions of lines for large profiles).
        let label_lines: Vec<String> = self.label_sets.iter().map(|set| label_set_text(set)).collect();
        let mut text = String::new();
        for t in &self.traces {
            text.clear();
            text.push_str(SEPARATOR);
            text.push('\n');
            text.push_str(&label_lines[t.labels as usize]);
            for (i, f) in t.frames.iter().enumerate() {
                if i == 0 {
                    let value = scaled_label(t.value, unit, "minimum");
                    write!(text, "{value:>10}   ")?;
                } else {
                    text.push_str(NO_VALUE);
                }
                text.push_str(&self.names[f.node as usize]);
                if f.inline {
                    text.push_str(" (inline)");
                }
                text.push('\n');
            }
            w.write_str(&text)?;
        }
        writeln!(w, "{SEPARATOR}")
    }
}

/// The frame lines after a trace's first: an empty value column.
const NO_VALUE: &str = "             ";

/// The lines of a label set as a trace prints them: string labels, then numeric
/// ones, each group sorted.
fn label_set_text(set: &[TraceLabel]) -> String {
    let (mut strs, mut nums): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for l in set {
        if l.numbers.is_empty() {
            strs.push(l.line());
        } else {
            nums.push(l.line());
        }
    }
    strs.sort();
    nums.sort();
    strs.iter().chain(&nums).map(|line| format!("{line}\n")).collect()
}

impl Serialize for Traces {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;

        struct Frames<'a>(&'a Traces, &'a [TraceFrame]);
        impl Serialize for Frames<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                struct Frame<'a> {
                    name: &'a str,
                    inline: bool,
                }
                s.collect_seq(
                    self.1.iter().map(|f| Frame { name: &self.0.names[f.node as usize], inline: f.inline }),
                )
            }
        }
        struct Samples<'a>(&'a Traces);
        impl Serialize for Samples<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[derive(Serialize)]
                struct Sample<'a> {
                    value: i64,
                    labels: &'a [TraceLabel],
                    frames: Frames<'a>,
                }
                let t = self.0;
                s.collect_seq(t.traces.iter().map(|tr| Sample {
                    value: tr.value,
                    labels: &t.label_sets[tr.labels as usize],
                    frames: Frames(t, &tr.frames),
                }))
            }
        }
        let mut st = serializer.serialize_struct("Traces", 4)?;
        st.serialize_field("schema", "heapprof.traces.v1")?;
        st.serialize_field("header", &self.header)?;
        st.serialize_field("total", &self.total)?;
        st.serialize_field("traces", &Samples(self))?;
        st.end()
    }
}
