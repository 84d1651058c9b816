//! The graph pprof builds from samples: one node per function (or line, file,
//! address), flat and cumulative values, and caller→callee edges that remember
//! whether the call was inlined. Nodes are dense ids; per-sample "seen" sets are
//! stamps in vectors rather than hash sets.

use hashbrown::HashMap;
use serde::Serialize;

use super::paths::{base_name, clean, trim_path};
use super::view::{NONE, Strings, View};

/// How frames are grouped into report nodes (pprof's granularity).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// One node per function name (pprof's default, `-functions`).
    #[default]
    Functions,
    /// One node per function and source line (`-lines`).
    Lines,
    /// One node per source file (`-files`).
    Files,
    /// One node per instruction address and frame (`-addresses`).
    Addresses,
}

/// What identifies a node (pprof's `NodeInfo`); strings are ids in
/// [`NodeTable::strings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NodeInfo {
    pub(crate) name: u32,
    pub(crate) address: u64,
    pub(crate) file: u32,
    pub(crate) start_line: i64,
    pub(crate) lineno: i64,
    pub(crate) objfile: u32,
}

/// The nodes of a view at one granularity, and which nodes each location's
/// frames map to.
#[derive(Debug)]
pub(crate) struct NodeTable {
    pub(crate) strings: Strings,
    pub(crate) infos: Vec<NodeInfo>,
    loc_nodes: Vec<u32>,
    loc_start: Vec<u32>,
}

/// Options for building a [`NodeTable`].
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeOptions {
    pub(crate) granularity: Granularity,
    /// Keep the binary's name and the function's start line in every node, as
    /// pprof does for source listings.
    pub(crate) obj_names: bool,
    /// Prefixes trimmed from file names.
    pub(crate) trim: Vec<String>,
    /// Source directories (their base names are trimmed from file names).
    pub(crate) search: Vec<String>,
}

impl NodeTable {
    pub(crate) fn new(view: &View, opts: &NodeOptions) -> NodeTable {
        let mut t = NodeTable {
            strings: Strings::default(),
            infos: Vec::new(),
            loc_nodes: Vec::with_capacity(view.lines.len()),
            loc_start: Vec::with_capacity(view.locations.len() + 1),
        };
        let mut index: HashMap<NodeInfo, u32> = HashMap::new();
        let mut files: HashMap<u32, u32> = HashMap::new();
        let g = opts.granularity;
        for loc in &view.locations {
            t.loc_start.push(t.loc_nodes.len() as u32);
            let address = if g == Granularity::Addresses { loc.address } else { 0 };
            let objfile = t.strings.intern(view.str(view.mapping_file(loc)));
            let lines = view.location_lines(loc);
            let mut push = |t: &mut NodeTable, info: NodeInfo| {
                let next = t.infos.len() as u32;
                let id = *index.entry(info).or_insert(next);
                if id == next {
                    t.infos.push(info);
                }
                t.loc_nodes.push(id);
            };
            if lines.is_empty() {
                let info = NodeInfo { name: 0, address, file: 0, start_line: 0, lineno: 0, objfile };
                push(&mut t, info);
                continue;
            }
            for line in lines {
                let f = &view.functions[line.function as usize];
                let name = match g {
                    Granularity::Files => 0,
                    _ => t.strings.intern(view.str(f.name)),
                };
                let file = match (g, f.filename) {
                    (Granularity::Functions, _) | (_, 0) => 0,
                    (_, raw) => *files.entry(raw).or_insert_with(|| {
                        let trimmed = trim_path(view.str(raw), &opts.trim, &opts.search);
                        t.strings.intern(&clean(&trimmed))
                    }),
                };
                let lineno = match g {
                    Granularity::Lines | Granularity::Addresses => line.line,
                    _ => 0,
                };
                let with_obj = opts.obj_names || name == 0;
                let info = NodeInfo {
                    name,
                    address,
                    file,
                    start_line: if with_obj { f.start_line } else { 0 },
                    lineno,
                    objfile: if with_obj { objfile } else { 0 },
                };
                push(&mut t, info);
            }
        }
        t.loc_start.push(t.loc_nodes.len() as u32);
        t
    }

    /// The nodes of location `loc`, one per frame, inlined callees first.
    pub(crate) fn nodes_of(&self, loc: u32) -> &[u32] {
        let i = loc as usize;
        &self.loc_nodes[self.loc_start[i] as usize..self.loc_start[i + 1] as usize]
    }

    /// Per node, whether it is an inlined frame (not the last line) somewhere.
    pub(crate) fn inlined_nodes(&self) -> Vec<bool> {
        let mut inlined = vec![false; self.len()];
        for loc in 0..self.loc_start.len().saturating_sub(1) {
            let nodes = self.nodes_of(loc as u32);
            for &n in &nodes[..nodes.len().saturating_sub(1)] {
                inlined[n as usize] = true;
            }
        }
        inlined
    }

    pub(crate) fn len(&self) -> usize {
        self.infos.len()
    }

    /// The node's name as pprof prints it: address, function, `file:line`, or the
    /// binary's name in brackets when nothing else is known.
    pub(crate) fn printable_name(&self, node: u32) -> String {
        let info = &self.infos[node as usize];
        let mut parts: Vec<String> = Vec::with_capacity(3);
        if info.address != 0 {
            parts.push(format!("{:016x}", info.address));
        }
        let name = self.strings.get(info.name);
        if !name.is_empty() {
            parts.push(name.to_string());
        }
        let file = self.strings.get(info.file);
        let objfile = self.strings.get(info.objfile);
        if info.lineno != 0 {
            parts.push(format!("{file}:{}", info.lineno));
        } else if !file.is_empty() {
            parts.push(file.to_string());
        } else if !name.is_empty() {
        } else if !objfile.is_empty() {
            parts.push(format!("[{}]", base_name(objfile)));
        } else {
            parts.push("<unknown>".to_string());
        }
        parts.join(" ")
    }

    /// The node's fields as Go's `fmt.Sprint` prints the struct: pprof's last
    /// tie-breaker when sorting.
    pub(crate) fn sprint_info(&self, node: u32) -> String {
        let i = &self.infos[node as usize];
        format!(
            "{{{}  {} {} {} {} {}}}",
            self.strings.get(i.name),
            i.address,
            self.strings.get(i.file),
            i.start_line,
            i.lineno,
            self.strings.get(i.objfile)
        )
    }

    pub(crate) fn name(&self, node: u32) -> &str {
        self.strings.get(self.infos[node as usize].name)
    }

    pub(crate) fn file(&self, node: u32) -> &str {
        self.strings.get(self.infos[node as usize].file)
    }
}

/// Which edges a [`Graph`] records (edges cost a hash lookup per frame).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Edges<'a> {
    /// Every caller→callee edge (peek).
    All,
    /// None (flat and cum only).
    None,
    /// Only edges into the marked nodes (top: the nodes that are inlined
    /// somewhere, whose in-edges decide their `(inline)` mark).
    Into(&'a [bool]),
}

/// A caller→callee edge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Edge {
    pub(crate) src: u32,
    pub(crate) dst: u32,
    pub(crate) weight: i64,
    /// Every call along this edge was inlined.
    pub(crate) inline: bool,
    /// The edge skips nodes that were trimmed away.
    pub(crate) residual: bool,
    /// Removed by the edge-fraction cutoff.
    pub(crate) dropped: bool,
    stamp: u32,
}

/// Flat and cumulative values per node, and the edges.
#[derive(Debug)]
pub(crate) struct Graph {
    pub(crate) flat: Vec<i64>,
    pub(crate) cum: Vec<i64>,
    pub(crate) edges: Vec<Edge>,
}

impl Graph {
    /// Builds the graph of sample value `index`, keeping only nodes marked in
    /// `kept` (when given): edges then jump over the nodes left out.
    pub(crate) fn build(
        view: &View,
        table: &NodeTable,
        index: usize,
        kept: Option<&[bool]>,
        edges: Edges<'_>,
    ) -> Graph {
        let n = table.len();
        let mut g = Graph { flat: vec![0; n], cum: vec![0; n], edges: Vec::new() };
        let mut node_stamp = vec![0u32; n];
        let mut edge_index: HashMap<u64, u32> = HashMap::new();
        for (si, s) in view.samples.iter().enumerate() {
            let w = view.value(si, index);
            if w == 0 {
                continue;
            }
            let stamp = si as u32 + 1;
            let mut parent = NONE;
            let mut residual = false;
            for &loc in view.stack(s).iter().rev() {
                let nodes = table.nodes_of(loc);
                let last = nodes.len() - 1;
                for (ni, &node) in nodes.iter().enumerate().rev() {
                    if kept.is_some_and(|k| !k[node as usize]) {
                        residual = true;
                        continue;
                    }
                    let slot = node as usize;
                    if node_stamp[slot] != stamp {
                        node_stamp[slot] = stamp;
                        g.cum[slot] = g.cum[slot].wrapping_add(w);
                    }
                    let track = match edges {
                        Edges::All => true,
                        Edges::None => false,
                        Edges::Into(into) => into[slot],
                    };
                    if track && parent != NONE && node != parent {
                        g.add_edge(&mut edge_index, parent, node, w, residual, ni != last, stamp);
                    }
                    parent = node;
                    residual = false;
                }
            }
            if parent != NONE && !residual {
                g.flat[parent as usize] = g.flat[parent as usize].wrapping_add(w);
            }
        }
        g
    }

    #[allow(clippy::too_many_arguments)]
    fn add_edge(
        &mut self,
        index: &mut HashMap<u64, u32>,
        src: u32,
        dst: u32,
        w: i64,
        residual: bool,
        inline: bool,
        stamp: u32,
    ) {
        let key = (u64::from(src) << 32) | u64::from(dst);
        let next = self.edges.len() as u32;
        let id = *index.entry(key).or_insert(next);
        if id == next {
            self.edges.push(Edge { src, dst, weight: w, inline, residual, dropped: false, stamp });
            return;
        }
        let e = &mut self.edges[id as usize];
        if e.stamp == stamp {
            return;
        }
        e.stamp = stamp;
        e.weight = e.weight.wrapping_add(w);
        e.residual |= residual;
        e.inline &= inline;
    }

    /// Nodes with a nonzero flat or cumulative value (pprof leaves out the rest).
    pub(crate) fn present(&self) -> Vec<u32> {
        (0..self.flat.len() as u32)
            .filter(|&i| self.flat[i as usize] != 0 || self.cum[i as usize] != 0)
            .collect()
    }

    /// Marks edges lighter than `cutoff` as dropped; returns how many.
    pub(crate) fn trim_edges(&mut self, cutoff: i64) -> usize {
        let mut dropped = 0;
        for e in &mut self.edges {
            if !e.dropped && e.weight.abs() < cutoff {
                e.dropped = true;
                dropped += 1;
            }
        }
        dropped
    }
}
