//! pprof's trimming of a graph for display (`newTrimmedGraph`): drop nodes whose
//! cumulative value is under `nodefraction` of the total, keep the top
//! `nodecount`, drop edges under `edgefraction`; and its node orderings.

use std::cmp::Ordering;

use super::graph::{Edges, Graph, NodeTable};
use super::view::View;

/// Trimming and ordering options (pprof's `-nodefraction`, `-edgefraction`,
/// `-nodecount`, `-cum`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrimOptions {
    /// Drop nodes whose |cum| is below this fraction of the total (pprof: 0.005).
    pub node_fraction: f64,
    /// Drop edges whose |weight| is below this fraction of the total (pprof: 0.001).
    pub edge_fraction: f64,
    /// Keep at most this many nodes; 0 keeps all (pprof's default for `-top`).
    pub node_count: usize,
    /// Sort by cumulative rather than flat value.
    pub cum_sort: bool,
}

impl Default for TrimOptions {
    fn default() -> Self {
        TrimOptions { node_fraction: 0.005, edge_fraction: 0.001, node_count: 0, cum_sort: false }
    }
}

impl TrimOptions {
    /// No trimming at all (what pprof uses for `-peek`, `-list` and `-traces`).
    pub fn untrimmed() -> Self {
        TrimOptions { node_fraction: 0.0, edge_fraction: 0.0, node_count: 0, cum_sort: false }
    }
}

/// A graph after trimming, with its nodes in display order.
#[derive(Debug)]
pub(crate) struct TrimmedGraph {
    pub(crate) graph: Graph,
    /// Shown nodes, sorted.
    pub(crate) nodes: Vec<u32>,
    /// Printable names, indexed by node id ("" for nodes not shown).
    pub(crate) names: Vec<String>,
    /// Nodes left after the node-fraction cut, before the node-count cut.
    pub(crate) orig_count: usize,
    /// Nodes removed by the node-fraction cut.
    pub(crate) dropped_nodes: usize,
}

impl TrimmedGraph {
    /// The printable name of node `n`.
    pub(crate) fn name(&self, table: &NodeTable, n: u32) -> String {
        match self.names[n as usize].as_str() {
            "" => table.printable_name(n),
            name => name.to_string(),
        }
    }
}

pub(crate) fn trimmed_graph(
    view: &View,
    table: &NodeTable,
    index: usize,
    opts: &TrimOptions,
    edges: Edges<'_>,
) -> TrimmedGraph {
    trim(view, table, index, opts, edges, false)
}

/// The trimmed graph pprof draws (`-dot`): nodes ordered, and chosen for the node
/// count, by their entropy score rather than by flat or cum value.
pub(crate) fn visual_trimmed_graph(
    view: &View,
    table: &NodeTable,
    index: usize,
    opts: &TrimOptions,
) -> TrimmedGraph {
    trim(view, table, index, opts, Edges::All, true)
}

fn trim(
    view: &View,
    table: &NodeTable,
    index: usize,
    opts: &TrimOptions,
    edges: Edges<'_>,
    visual: bool,
) -> TrimmedGraph {
    let mut graph = Graph::build(view, table, index, None, edges);
    let total_value = graph.flat.iter().fold(0i64, |t, &v| t.wrapping_add(v));
    let node_cutoff = ((total_value as f64 * opts.node_fraction) as i64).abs();
    let edge_cutoff = ((total_value as f64 * opts.edge_fraction) as i64).abs();
    let mut nodes = graph.present();
    let mut dropped_nodes = 0;
    if node_cutoff > 0 {
        let kept: Vec<u32> =
            nodes.iter().copied().filter(|&n| graph.cum[n as usize].abs() >= node_cutoff).collect();
        if kept.len() != nodes.len() {
            dropped_nodes = nodes.len() - kept.len();
            graph = restrict(graph, view, table, index, &kept, edges);
            nodes = graph.present();
        }
    }
    let orig_count = nodes.len();
    let mut names = vec![String::new(); table.len()];
    for &n in &nodes {
        names[n as usize] = table.printable_name(n);
    }
    if visual {
        sort_by_entropy(&mut nodes, &graph, &names, table);
    } else {
        sort_nodes(&mut nodes, &graph, &names, table, opts.cum_sort);
    }
    if opts.node_count > 0 && opts.node_count < nodes.len() {
        nodes.truncate(opts.node_count);
        graph = restrict(graph, view, table, index, &nodes, edges);
        nodes = graph.present();
        if visual {
            sort_by_entropy(&mut nodes, &graph, &names, table);
        } else {
            sort_nodes(&mut nodes, &graph, &names, table, opts.cum_sort);
        }
    }
    graph.trim_edges(edge_cutoff);
    TrimmedGraph { graph, nodes, names, orig_count, dropped_nodes }
}

/// The graph with only `kept` nodes. Their flat and cum values do not change
/// (pprof rebuilds the graph only for the edges, which then skip the nodes left
/// out), so without edges to follow the values are just cleared.
fn restrict(
    mut graph: Graph,
    view: &View,
    table: &NodeTable,
    index: usize,
    kept: &[u32],
    edges: Edges<'_>,
) -> Graph {
    let keep = mask(table.len(), kept);
    let no_edges = match edges {
        Edges::None => true,
        Edges::Into(into) => !into.iter().any(|&b| b),
        Edges::All => false,
    };
    if !no_edges {
        return Graph::build(view, table, index, Some(&keep), edges);
    }
    for (n, k) in keep.iter().enumerate() {
        if !k {
            graph.flat[n] = 0;
            graph.cum[n] = 0;
        }
    }
    graph
}

fn mask(len: usize, nodes: &[u32]) -> Vec<bool> {
    let mut m = vec![false; len];
    for &n in nodes {
        m[n as usize] = true;
    }
    m
}

/// pprof's `FlatNameOrder` (|flat| desc, name, |cum| desc) or `CumNameOrder`
/// (|cum| desc, name, |flat| desc), with the node's full identity last.
pub(crate) fn sort_nodes(
    nodes: &mut [u32],
    graph: &Graph,
    names: &[String],
    table: &NodeTable,
    cum_sort: bool,
) {
    nodes.sort_by(|&a, &b| {
        let (ai, bi) = (a as usize, b as usize);
        let (first_a, first_b, third_a, third_b) = if cum_sort {
            (graph.cum[ai], graph.cum[bi], graph.flat[ai], graph.flat[bi])
        } else {
            (graph.flat[ai], graph.flat[bi], graph.cum[ai], graph.cum[bi])
        };
        first_b
            .abs()
            .cmp(&first_a.abs())
            .then_with(|| names[ai].cmp(&names[bi]))
            .then_with(|| third_b.abs().cmp(&third_a.abs()))
            .then_with(|| compare_identity(table, a, b))
    });
}

/// pprof's `EntropyOrder`: by |entropy score| desc, name, |flat| desc, identity.
fn sort_by_entropy(nodes: &mut [u32], graph: &Graph, names: &[String], table: &NodeTable) {
    let mut ins: Vec<Vec<i64>> = vec![Vec::new(); names.len()];
    let mut outs: Vec<Vec<i64>> = vec![Vec::new(); names.len()];
    for e in graph.edges.iter().filter(|e| !e.dropped) {
        outs[e.src as usize].push(e.weight);
        ins[e.dst as usize].push(e.weight);
    }
    let mut score = vec![0i64; names.len()];
    for &n in nodes.iter() {
        let i = n as usize;
        score[i] = entropy_score(graph.flat[i], graph.cum[i], &ins[i], &outs[i]);
    }
    nodes.sort_by(|&a, &b| {
        let (ai, bi) = (a as usize, b as usize);
        score[bi]
            .unsigned_abs()
            .cmp(&score[ai].unsigned_abs())
            .then_with(|| names[ai].cmp(&names[bi]))
            .then_with(|| graph.flat[bi].unsigned_abs().cmp(&graph.flat[ai].unsigned_abs()))
            .then_with(|| compare_identity(table, a, b))
    });
}

/// pprof's `entropyScore`: how much a node adds to a picture. Entry and leaf
/// nodes are favoured; a node that merely passes its one caller's weight on to
/// its one callee scores low.
fn entropy_score(flat: i64, cum: i64, ins: &[i64], outs: &[i64]) -> i64 {
    let mut score = 0.0;
    score += if ins.is_empty() { 1.0 } else { edge_entropy(ins, 0) };
    score += if outs.is_empty() { 1.0 } else { edge_entropy(outs, flat) };
    (score * cum as f64) as i64 + flat
}

fn edge_entropy(weights: &[i64], own: i64) -> f64 {
    let mut total = own;
    for &w in weights.iter().filter(|&&w| w > 0) {
        total = total.wrapping_add(w);
    }
    if total == 0 {
        return 0.0;
    }
    let term = |w: i64| {
        let frac = w.unsigned_abs() as f64 / total as f64;
        if frac > 0.0 { -frac * frac.log2() } else { 0.0 }
    };
    let mut score: f64 = weights.iter().map(|&w| term(w)).sum();
    if own > 0 {
        score += term(own);
    }
    score
}

/// pprof's `NameOrder`: by function name, then identity.
pub(crate) fn sort_by_name(nodes: &mut [u32], table: &NodeTable) {
    nodes.sort_by(|&a, &b| table.name(a).cmp(table.name(b)).then_with(|| compare_identity(table, a, b)));
}

/// pprof's `FileOrder`: by file, start line, then identity.
pub(crate) fn sort_by_file(nodes: &mut [u32], table: &NodeTable) {
    nodes.sort_by(|&a, &b| {
        let (ia, ib) = (&table.infos[a as usize], &table.infos[b as usize]);
        table
            .file(a)
            .cmp(table.file(b))
            .then(ia.start_line.cmp(&ib.start_line))
            .then_with(|| compare_identity(table, a, b))
    });
}

fn compare_identity(table: &NodeTable, a: u32, b: u32) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    table.sprint_info(a).cmp(&table.sprint_info(b))
}

/// The edges into (`incoming`) or out of a node that survived trimming, in
/// pprof's order: |weight| desc, then source name, then destination name.
pub(crate) fn node_edges(tg: &TrimmedGraph, table: &NodeTable, node: u32, incoming: bool) -> Vec<usize> {
    let mut edges: Vec<usize> = tg
        .graph
        .edges
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.dropped && if incoming { e.dst == node } else { e.src == node })
        .map(|(i, _)| i)
        .collect();
    let name = |n: u32| tg.name(table, n);
    edges.sort_by(|&a, &b| {
        let (ea, eb) = (&tg.graph.edges[a], &tg.graph.edges[b]);
        eb.weight
            .abs()
            .cmp(&ea.weight.abs())
            .then_with(|| name(ea.src).cmp(&name(eb.src)))
            .then_with(|| name(ea.dst).cmp(&name(eb.dst)))
    });
    edges
}
