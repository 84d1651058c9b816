//! The `peek` report: the callers and callees of the nodes whose name matches a
//! regular expression, in pprof's `-peek` layout.

use std::fmt;

use regex::Regex;
use serde::Serialize;

use super::graph::{Edges, NodeOptions, NodeTable};
use super::trim::{TrimOptions, node_edges, trimmed_graph};
use super::units::{percentage, scaled_label};
use super::{Granularity, Header, Report, ReportError, legend_lines};

const SEPARATOR: &str = "----------------------------------------------------------+-------------";
const LEGEND: &str = "      flat  flat%   sum%        cum   cum%   calls calls% + context \t \t ";

/// A caller or callee of a peeked node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeekEdge {
    /// The other node's name.
    pub name: String,
    /// Value flowing along the edge.
    pub weight: i64,
    /// `weight` as a percentage of the peeked node's cum.
    pub percent: f64,
    /// Whether every call along the edge was inlined.
    pub inline: bool,
}

/// A node matching the regular expression, with its context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeekEntry {
    /// The node's name.
    pub name: String,
    /// Flat value.
    pub flat: i64,
    /// Cumulative value.
    pub cum: i64,
    /// Callers, heaviest first.
    pub callers: Vec<PeekEdge>,
    /// Callees, heaviest first.
    pub callees: Vec<PeekEdge>,
}

/// A peek report (JSON schema `heapprof.peek.v1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peek {
    /// Always `heapprof.peek.v1`.
    pub schema: &'static str,
    /// About the profile.
    pub header: Header,
    /// Unit values are printed in.
    pub unit: String,
    /// What percentages are relative to.
    pub total: i64,
    /// Lines between the header and the table.
    pub legend: Vec<String>,
    /// The matching nodes, in flat (or cum) order.
    pub entries: Vec<PeekEntry>,
    /// Whether the graph had any node (pprof closes the table only then).
    pub has_nodes: bool,
}

impl Report {
    /// Callers and callees of the nodes whose name matches `regex` (pprof's
    /// `-peek`, which does no trimming). `cum_sort` orders by cumulative value.
    pub fn peek(&self, regex: &Regex, granularity: Granularity, cum_sort: bool) -> Result<Peek, ReportError> {
        let table = NodeTable::new(&self.view, &NodeOptions { granularity, ..NodeOptions::default() });
        let trim = TrimOptions { cum_sort, ..TrimOptions::untrimmed() };
        let tg = trimmed_graph(&self.view, &table, self.index, &trim, Edges::All);
        let unit = self.output_unit(&tg);
        let pct = |v: i64, of: i64| {
            if of == 0 { 0.0 } else { (v as f64 / of as f64).abs() * 100.0 }
        };
        let mut entries = Vec::new();
        for &n in &tg.nodes {
            let name = &tg.names[n as usize];
            if !regex.is_match(name) {
                continue;
            }
            let cum = tg.graph.cum[n as usize];
            let edges = |incoming: bool| {
                node_edges(&tg, &table, n, incoming)
                    .into_iter()
                    .map(|i| {
                        let e = &tg.graph.edges[i];
                        let other = if incoming { e.src } else { e.dst };
                        PeekEdge {
                            name: tg.name(&table, other),
                            weight: e.weight,
                            percent: pct(e.weight, cum),
                            inline: e.inline,
                        }
                    })
                    .collect()
            };
            entries.push(PeekEntry {
                name: name.clone(),
                flat: tg.graph.flat[n as usize],
                cum,
                callers: edges(true),
                callees: edges(false),
            });
        }
        if entries.is_empty() {
            return Err(ReportError::NoMatches(regex.as_str().to_string()));
        }
        let shown = tg.nodes.iter().fold(0i64, |acc, &n| acc.wrapping_add(tg.graph.flat[n as usize]));
        let legend = legend_lines(self, &unit, shown, 0, 0.0, tg.nodes.len(), tg.orig_count);
        Ok(Peek {
            schema: "heapprof.peek.v1",
            header: self.header(),
            unit,
            total: self.total,
            legend,
            entries,
            has_nodes: !tg.nodes.is_empty(),
        })
    }
}

impl Peek {
    /// Prints the report in pprof's `-peek` layout.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let from = &self.header.sample_unit;
        let value = |v: i64| scaled_label(v, from, &self.unit);
        for line in self.header.lines(self.total, &self.unit) {
            writeln!(w, "{line}")?;
        }
        for line in &self.legend {
            writeln!(w, "{line}")?;
        }
        writeln!(w, "{SEPARATOR}")?;
        writeln!(w, "{LEGEND}")?;
        let mut sum = 0i64;
        for e in &self.entries {
            writeln!(w, "{SEPARATOR}")?;
            let edge_line = |w: &mut dyn fmt::Write, edge: &PeekEdge| {
                writeln!(
                    w,
                    "{:>50} {} |   {}{}",
                    value(edge.weight),
                    percentage(edge.weight, e.cum),
                    edge.name,
                    if edge.inline { " (inline)" } else { "" }
                )
            };
            for c in &e.callers {
                edge_line(w, c)?;
            }
            sum = sum.wrapping_add(e.flat);
            writeln!(
                w,
                "{:>10} {} {} {:>10} {}                | {}",
                value(e.flat),
                percentage(e.flat, self.total),
                percentage(sum, self.total),
                value(e.cum),
                percentage(e.cum, self.total),
                e.name
            )?;
            for c in &e.callees {
                edge_line(w, c)?;
            }
        }
        if self.has_nodes {
            writeln!(w, "{SEPARATOR}")?;
        }
        Ok(())
    }
}
