//! The `top` report: nodes sorted by flat (or cumulative) value, as pprof's
//! `-top` prints them.

use std::fmt;

use serde::Serialize;

use super::graph::{Edges, Granularity, NodeOptions, NodeTable};
use super::trim::{TrimOptions, TrimmedGraph, trimmed_graph};
use super::units::{percentage, select_output_unit};
use super::{Header, Report, legend_lines};

/// Options of [`Report::top`].
#[derive(Debug, Clone, Default)]
pub struct TopOptions {
    /// How frames are grouped into nodes.
    pub granularity: Granularity,
    /// Trimming and ordering.
    pub trim: TrimOptions,
}

/// Whether a node's frames were inlined into their callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InlineMark {
    /// Called, or a root: printed without a mark.
    Call,
    /// Every call into it was inlined: printed as `name (inline)`.
    Inline,
    /// Inlined at some call sites only: `name (partial-inline)`.
    PartialInline,
}

impl InlineMark {
    /// The suffix pprof appends to the name ("" for [`InlineMark::Call`]).
    pub fn suffix(self) -> &'static str {
        match self {
            InlineMark::Call => "",
            InlineMark::Inline => " (inline)",
            InlineMark::PartialInline => " (partial-inline)",
        }
    }
}

/// One row of a top report. Values are in the sample type's unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TopRow {
    /// The node's name (function, `function file:line`, file, or address…).
    pub name: String,
    /// Whether calls into the node were inlined.
    pub inline: InlineMark,
    /// Value of samples whose leaf frame is this node.
    pub flat: i64,
    /// Value of samples with this node anywhere on the stack (counted once).
    pub cum: i64,
    /// `flat` as a percentage of the total.
    pub flat_percent: f64,
    /// Running sum of `flat` down to this row, as a percentage of the total.
    pub sum_percent: f64,
    /// `cum` as a percentage of the total.
    pub cum_percent: f64,
}

/// A top report (JSON schema `heapprof.top.v1`: every field below, in order).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Top {
    /// Always `heapprof.top.v1`.
    pub schema: &'static str,
    /// About the profile.
    pub header: Header,
    /// The unit values are printed in (`MB`, `kB`, `count`…).
    pub unit: String,
    /// What percentages are relative to.
    pub total: i64,
    /// Sum of the flat values of the rows shown.
    pub shown: i64,
    /// Nodes left out because their |cum| was under the node fraction.
    pub dropped_nodes: usize,
    /// Nodes that passed the node fraction (before `node_count` applied).
    pub nodes_before_limit: usize,
    /// `focus=…`, `ignore=…`… as given.
    pub active_filters: Vec<String>,
    /// The lines printed between the header and the table.
    pub legend: Vec<String>,
    /// The rows, in order.
    pub rows: Vec<TopRow>,
}

impl Report {
    /// The top report (pprof's `-top`).
    pub fn top(&self, opts: &TopOptions) -> Top {
        let table = NodeTable::new(
            &self.view,
            &NodeOptions { granularity: opts.granularity, ..NodeOptions::default() },
        );
        let inlined = table.inlined_nodes();
        let tg = trimmed_graph(&self.view, &table, self.index, &opts.trim, Edges::Into(&inlined));
        let unit = self.output_unit(&tg);
        let marks = inline_marks(&tg, table.len());
        let total = self.total;
        let pct = |v: i64| {
            if total == 0 { 0.0 } else { (v as f64 / total as f64).abs() * 100.0 }
        };
        let mut sum = 0i64;
        let rows: Vec<TopRow> = tg
            .nodes
            .iter()
            .map(|&n| {
                let (flat, cum) = (tg.graph.flat[n as usize], tg.graph.cum[n as usize]);
                sum = sum.wrapping_add(flat);
                TopRow {
                    name: tg.names[n as usize].clone(),
                    inline: marks[n as usize],
                    flat,
                    cum,
                    flat_percent: pct(flat),
                    sum_percent: pct(sum),
                    cum_percent: pct(cum),
                }
            })
            .collect();
        let legend = legend_lines(
            self,
            &unit,
            sum,
            tg.dropped_nodes,
            opts.trim.node_fraction,
            tg.nodes.len(),
            tg.orig_count,
        );
        Top {
            schema: "heapprof.top.v1",
            header: self.header(),
            unit,
            total,
            shown: sum,
            dropped_nodes: tg.dropped_nodes,
            nodes_before_limit: tg.orig_count,
            active_filters: self.active_filters.clone(),
            legend,
            rows,
        }
    }

    /// pprof's `selectOutputUnit` over the shown nodes.
    pub(crate) fn output_unit(&self, tg: &TrimmedGraph) -> String {
        let mut min = 0i64;
        for &n in &tg.nodes {
            let mut v = tg.graph.flat[n as usize].abs();
            if v == 0 {
                v = tg.graph.cum[n as usize].abs();
            }
            if v > 0 && (min == 0 || v < min) {
                min = v;
            }
        }
        if tg.nodes.is_empty() {
            return "minimum".to_string();
        }
        select_output_unit(min, self.total, self.sample_unit())
    }
}

/// Per node, from the edges into it that survived trimming.
fn inline_marks(tg: &TrimmedGraph, nodes: usize) -> Vec<InlineMark> {
    let mut inline = vec![false; nodes];
    let mut called = vec![false; nodes];
    for e in tg.graph.edges.iter().filter(|e| !e.dropped) {
        if e.inline {
            inline[e.dst as usize] = true;
        } else {
            called[e.dst as usize] = true;
        }
    }
    (0..nodes)
        .map(|n| match (inline[n], called[n]) {
            (true, true) => InlineMark::PartialInline,
            (true, false) => InlineMark::Inline,
            _ => InlineMark::Call,
        })
        .collect()
}

impl Top {
    /// Prints the report in pprof's `-top` layout.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let unit = &self.unit;
        let from = &self.header.sample_unit;
        let fmt_value = |v: i64| super::units::scaled_label(v, from, unit);
        for line in self.header.lines(self.total, unit) {
            writeln!(w, "{line}")?;
        }
        for line in &self.legend {
            writeln!(w, "{line}")?;
        }
        writeln!(w, "{:>10} {:>5}% {:>5}% {:>10} {:>5}%", "flat", "flat", "sum", "cum", "cum")?;
        let mut sum = 0i64;
        for r in &self.rows {
            sum = sum.wrapping_add(r.flat);
            writeln!(
                w,
                "{:>10} {} {} {:>10} {}  {}{}",
                fmt_value(r.flat),
                percentage(r.flat, self.total),
                percentage(sum, self.total),
                fmt_value(r.cum),
                percentage(r.cum, self.total),
                r.name,
                r.inline.suffix()
            )?;
        }
        Ok(())
    }
}
