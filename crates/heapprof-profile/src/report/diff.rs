//! The diff report: per node (function by default), what grew and what shrank
//! between two profiles, sorted by the size of the change.

use std::fmt;

use hashbrown::HashMap;
use serde::Serialize;

use super::graph::{Edges, Graph, NodeOptions, NodeTable};
use super::units::{percentage, scaled_label, select_output_unit};
use super::{Granularity, Header, Report, ReportError};

/// Options of [`diff`].
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// How frames are grouped into nodes.
    pub granularity: Granularity,
    /// Keep at most this many rows; 0 keeps all.
    pub node_count: usize,
}

/// One node that changed. Values are in the sample type's unit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiffRow {
    /// The node's name.
    pub name: String,
    /// Flat value in the base profile.
    pub base_flat: i64,
    /// Flat value in the new profile.
    pub new_flat: i64,
    /// `new_flat - base_flat`.
    pub flat_change: i64,
    /// Cumulative value in the base profile.
    pub base_cum: i64,
    /// Cumulative value in the new profile.
    pub new_cum: i64,
    /// `new_cum - base_cum`.
    pub cum_change: i64,
    /// `flat_change` as a signed percentage of the base total.
    pub flat_change_percent: f64,
    /// `cum_change` as a signed percentage of the base total.
    pub cum_change_percent: f64,
}

/// How many nodes changed one way, and the sum of their flat changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Number of nodes.
    pub nodes: usize,
    /// Sum of their flat changes.
    pub total: i64,
}

/// A diff report (JSON schema `heapprof.diff.v1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    /// Always `heapprof.diff.v1`.
    pub schema: &'static str,
    /// About the new profile.
    pub header: Header,
    /// Unit values are printed in.
    pub unit: String,
    /// Total of the base profile.
    pub base_total: i64,
    /// Total of the new profile.
    pub new_total: i64,
    /// `new_total - base_total`.
    pub change: i64,
    /// `change` as a signed percentage of the base total (`None` if it is 0).
    pub change_percent: Option<f64>,
    /// Nodes whose flat value grew, and by how much in all.
    pub grew: Change,
    /// Nodes whose flat value shrank, and by how much in all (negative).
    pub shrank: Change,
    /// Changed nodes: largest |flat change| first, then |cum change|, then name.
    pub rows: Vec<DiffRow>,
}

/// Compares two reports on the same sample type, node by node.
pub fn diff(base: &Report, new: &Report, opts: &DiffOptions) -> Result<Diff, ReportError> {
    if base.sample_type() != new.sample_type() || base.sample_unit() != new.sample_unit() {
        return Err(ReportError::Incompatible(format!(
            "sample types {}/{} and {}/{} differ",
            base.sample_type(),
            base.sample_unit(),
            new.sample_type(),
            new.sample_unit()
        )));
    }
    let mut values: HashMap<String, [i64; 4]> = HashMap::new();
    for (slot, report) in [(0, base), (2, new)] {
        let table = NodeTable::new(
            &report.view,
            &NodeOptions { granularity: opts.granularity, ..NodeOptions::default() },
        );
        let g = Graph::build(&report.view, &table, report.index, None, Edges::None);
        for n in g.present() {
            let v = values.entry(table.printable_name(n)).or_default();
            v[slot] = v[slot].wrapping_add(g.flat[n as usize]);
            v[slot + 1] = v[slot + 1].wrapping_add(g.cum[n as usize]);
        }
    }
    let base_total = base.total;
    let pct = |v: i64| {
        if base_total == 0 { 0.0 } else { v as f64 / base_total as f64 * 100.0 }
    };
    let mut rows: Vec<DiffRow> = values
        .into_iter()
        .map(|(name, [bf, bc, nf, nc])| DiffRow {
            name,
            base_flat: bf,
            new_flat: nf,
            flat_change: nf.wrapping_sub(bf),
            base_cum: bc,
            new_cum: nc,
            cum_change: nc.wrapping_sub(bc),
            flat_change_percent: pct(nf.wrapping_sub(bf)),
            cum_change_percent: pct(nc.wrapping_sub(bc)),
        })
        .filter(|r| r.flat_change != 0 || r.cum_change != 0)
        .collect();
    rows.sort_by(|a, b| {
        b.flat_change
            .abs()
            .cmp(&a.flat_change.abs())
            .then(b.cum_change.abs().cmp(&a.cum_change.abs()))
            .then_with(|| a.name.cmp(&b.name))
    });
    let summary = |grew: bool| {
        let changed = rows.iter().filter(|r| if grew { r.flat_change > 0 } else { r.flat_change < 0 });
        Change {
            nodes: changed.clone().count(),
            total: changed.fold(0i64, |t, r| t.wrapping_add(r.flat_change)),
        }
    };
    let (grew, shrank) = (summary(true), summary(false));
    if opts.node_count > 0 {
        rows.truncate(opts.node_count);
    }
    let min = rows
        .iter()
        .map(|r| if r.flat_change != 0 { r.flat_change } else { r.cum_change }.abs())
        .filter(|&v| v > 0)
        .min()
        .unwrap_or(0);
    let max = base_total.abs().max(new.total.abs());
    let unit = select_output_unit(min, max, new.sample_unit());
    let change = new.total.wrapping_sub(base_total);
    Ok(Diff {
        schema: "heapprof.diff.v1",
        header: new.header(),
        unit,
        base_total,
        new_total: new.total,
        change,
        change_percent: (base_total != 0).then(|| pct(change)),
        grew,
        shrank,
        rows,
    })
}

/// A signed value (`+1.50MB`, `-3kB`, `0`).
fn signed(v: i64, from: &str, unit: &str) -> String {
    let text = scaled_label(v, from, unit);
    if v > 0 && text != "0" { format!("+{text}") } else { text }
}

/// A signed percentage in pprof's style (`+46.18%`, `-0.36%`, `0%`).
fn signed_percentage(v: i64, total: i64) -> String {
    let p = percentage(v, total);
    let p = p.trim();
    match v.signum() {
        1 if p != "0%" => format!("+{p}"),
        -1 if p != "0%" => format!("-{p}"),
        _ => p.to_string(),
    }
}

impl Diff {
    /// Prints the report: header, totals, then one row per changed node.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let from = &self.header.sample_unit;
        let unit = &self.unit;
        let value = |v: i64| scaled_label(v, from, unit);
        for line in self.header.lines(self.new_total, unit) {
            writeln!(w, "{line}")?;
        }
        writeln!(w, "Base total: {}", value(self.base_total))?;
        writeln!(w, "New total:  {}", value(self.new_total))?;
        let of_base = match self.base_total {
            0 => String::new(),
            t => format!(" ({} of base)", signed_percentage(self.change, t)),
        };
        writeln!(w, "Change:     {}{of_base}", signed(self.change, from, unit))?;
        writeln!(
            w,
            "Grew: {} node{} ({}), shrank: {} node{} ({})",
            self.grew.nodes,
            if self.grew.nodes == 1 { "" } else { "s" },
            signed(self.grew.total, from, unit),
            self.shrank.nodes,
            if self.shrank.nodes == 1 { "" } else { "s" },
            signed(self.shrank.total, from, unit)
        )?;
        writeln!(
            w,
            "{:>11} {:>8} {:>11} {:>8} {:>10} {:>10}  name",
            "flat-diff", "%base", "cum-diff", "%base", "base-flat", "new-flat"
        )?;
        for r in &self.rows {
            writeln!(
                w,
                "{:>11} {:>8} {:>11} {:>8} {:>10} {:>10}  {}",
                signed(r.flat_change, from, unit),
                signed_percentage(r.flat_change, self.base_total),
                signed(r.cum_change, from, unit),
                signed_percentage(r.cum_change, self.base_total),
                value(r.base_flat),
                value(r.new_flat),
                r.name
            )?;
        }
        Ok(())
    }
}
