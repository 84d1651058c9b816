//! The call graph pprof draws (`-dot`, `-svg`): the trimmed graph's nodes with
//! their flat and cumulative values, and the caller→callee edges that survive the
//! edge fraction, as plain data for a renderer ([`crate::render::write_dot`]).

use serde::Serialize;

use super::graph::{NodeOptions, NodeTable};
use super::trim::visual_trimmed_graph;
use super::{Header, Report, TopOptions, legend_lines};

/// A node of a [`CallGraph`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphNode {
    /// The node's name as pprof prints it (`function`, `function file:line`,
    /// `address function file:line`, a file, or `[binary]`).
    pub name: String,
    /// The instruction address (0 unless the graph is by address).
    pub address: u64,
    /// The function's name ("" for a graph by file, or when unknown).
    pub function: String,
    /// The source file ("" for a graph by function).
    pub file: String,
    /// The source line (0 unless the graph is by line or address).
    pub line: i64,
    /// The binary, when the node has nothing else to be named by.
    pub object: String,
    /// Value of samples whose leaf frame is this node.
    pub flat: i64,
    /// Value of samples with this node anywhere on the stack (counted once).
    pub cum: i64,
}

/// A caller→callee edge of a [`CallGraph`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphEdge {
    /// The caller: an index into [`CallGraph::nodes`].
    pub from: usize,
    /// The callee: an index into [`CallGraph::nodes`].
    pub to: usize,
    /// Value of the samples whose stacks contain this call.
    pub weight: i64,
    /// Every call along this edge was inlined.
    pub inline: bool,
    /// The edge stands for a path through nodes that were trimmed away.
    pub residual: bool,
}

/// A call graph after pprof's trimming, nodes in display order (|flat| first, or
/// |cum| with `cum_sort`), edges heaviest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallGraph {
    /// About the profile.
    pub header: Header,
    /// The unit values are printed in (`MB`, `kB`, `count`…).
    pub unit: String,
    /// What percentages are relative to.
    pub total: i64,
    /// The header and legend lines (`File:`, `Type:`, `Showing nodes…`,
    /// `Dropped N edges…`), as pprof puts them in the graph's legend box.
    pub legend: Vec<String>,
    /// The nodes.
    pub nodes: Vec<GraphNode>,
    /// The edges.
    pub edges: Vec<GraphEdge>,
}

impl Report {
    /// The call graph pprof draws with `-dot`, trimmed by `opts` (pprof's default
    /// node count for graphs is 80).
    pub fn call_graph(&self, opts: &TopOptions) -> CallGraph {
        let table = NodeTable::new(
            &self.view,
            &NodeOptions { granularity: opts.granularity, ..NodeOptions::default() },
        );
        let tg = visual_trimmed_graph(&self.view, &table, self.index, &opts.trim);
        let unit = self.output_unit(&tg);
        let mut position = vec![usize::MAX; table.len()];
        let mut nodes = Vec::with_capacity(tg.nodes.len());
        let mut shown = 0i64;
        for (i, &n) in tg.nodes.iter().enumerate() {
            position[n as usize] = i;
            let (flat, cum) = (tg.graph.flat[n as usize], tg.graph.cum[n as usize]);
            shown = shown.wrapping_add(flat);
            let info = &table.infos[n as usize];
            let text = |id: u32| table.strings.get(id).to_string();
            nodes.push(GraphNode {
                name: tg.name(&table, n),
                address: info.address,
                function: text(info.name),
                file: text(info.file),
                line: info.lineno,
                object: text(info.objfile),
                flat,
                cum,
            });
        }
        let mut edges: Vec<GraphEdge> = Vec::new();
        let mut dropped_edges = 0usize;
        for e in &tg.graph.edges {
            let (from, to) = (position[e.src as usize], position[e.dst as usize]);
            if from == usize::MAX || to == usize::MAX {
                continue;
            }
            if e.dropped {
                dropped_edges += 1;
                continue;
            }
            edges.push(GraphEdge { from, to, weight: e.weight, inline: e.inline, residual: e.residual });
        }
        edges.sort_by(|a, b| {
            b.weight
                .abs()
                .cmp(&a.weight.abs())
                .then_with(|| nodes[a.from].name.cmp(&nodes[b.from].name))
                .then_with(|| nodes[a.to].name.cmp(&nodes[b.to].name))
        });
        remove_redundant_edges(&mut edges, nodes.len());
        let header = self.header();
        let mut legend = header.lines(self.total, &unit);
        let mut lines = legend_lines(
            self,
            &unit,
            shown,
            tg.dropped_nodes,
            opts.trim.node_fraction,
            tg.nodes.len(),
            tg.orig_count,
        );
        // pprof counts the edges its last trimming pass drops: all of them when
        // there is no node count, else only those of the graph rebuilt after the
        // node-count cut (an earlier pass already took the rest, uncounted).
        let counted = opts.trim.node_count == 0 || tg.nodes.len() < tg.orig_count;
        if dropped_edges > 0 && counted && self.total != 0 {
            let cutoff = ((self.total as f64 * opts.trim.edge_fraction) as i64).abs();
            let s = if dropped_edges > 1 { "s" } else { "" };
            // pprof puts this line before "Showing top N nodes…".
            let at = lines.iter().position(|l| l.starts_with("Showing top ")).unwrap_or(lines.len());
            lines.insert(
                at,
                format!("Dropped {dropped_edges} edge{s} (freq <= {})", self.format(cutoff, &unit)),
            );
        }
        legend.extend(lines);
        CallGraph { header, unit, total: self.total, legend, nodes, edges }
    }
}

/// pprof's `RemoveRedundantEdges`: drops residual edges whose callee can be
/// reached from the caller by another path, lightest first, never past a
/// non-residual edge. `edges` are sorted heaviest first.
fn remove_redundant_edges(edges: &mut Vec<GraphEdge>, nodes: usize) {
    let mut into: Vec<Vec<usize>> = vec![Vec::new(); nodes];
    for (i, e) in edges.iter().enumerate() {
        into[e.to].push(i);
    }
    let mut removed = vec![false; edges.len()];
    for node in (0..nodes).rev() {
        for &i in into[node].iter().rev() {
            if !edges[i].residual {
                break;
            }
            if reachable_without(edges, &into, &removed, i) {
                removed[i] = true;
            }
        }
    }
    let mut keep = removed.iter().map(|r| !r);
    edges.retain(|_| keep.next().unwrap_or(true));
}

/// Whether edge `skip`'s caller reaches its callee through other edges.
fn reachable_without(edges: &[GraphEdge], into: &[Vec<usize>], removed: &[bool], skip: usize) -> bool {
    let (src, dst) = (edges[skip].from, edges[skip].to);
    let mut seen = vec![false; into.len()];
    seen[dst] = true;
    let mut queue = std::collections::VecDeque::from([dst]);
    while let Some(n) = queue.pop_front() {
        for &i in &into[n] {
            let caller = edges[i].from;
            if i == skip || removed[i] || seen[caller] {
                continue;
            }
            if caller == src {
                return true;
            }
            seen[caller] = true;
            queue.push_back(caller);
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: usize, to: usize, weight: i64, residual: bool) -> GraphEdge {
        GraphEdge { from, to, weight, inline: false, residual }
    }

    #[test]
    fn redundant_residual_edges_go() {
        // 0 -> 1 -> 2, and a residual 0 ... 2 that another path already shows.
        let mut edges = vec![edge(0, 1, 10, false), edge(1, 2, 8, false), edge(0, 2, 2, true)];
        remove_redundant_edges(&mut edges, 3);
        assert_eq!(edges, vec![edge(0, 1, 10, false), edge(1, 2, 8, false)]);
        // The only path stays.
        let mut edges = vec![edge(0, 1, 10, false), edge(0, 2, 2, true)];
        remove_redundant_edges(&mut edges, 3);
        assert_eq!(edges.len(), 2);
    }
}
