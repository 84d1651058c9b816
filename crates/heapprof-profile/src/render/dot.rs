//! Call graphs as Graphviz DOT text, in the style of pprof's `-dot`: boxes whose
//! font grows with the flat value, edges whose width and colour grow with their
//! weight, residual edges dotted, inlined calls marked, a legend box.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::report::units::{percentage, scaled_label};
use crate::report::{CallGraph, GraphNode};

/// Writes `graph` as a DOT digraph. The same graph always gives the same text.
pub fn write_dot(graph: &CallGraph, w: &mut dyn fmt::Write) -> fmt::Result {
    let from = graph.header.sample_unit.as_str();
    let value = |v: i64| scaled_label(v, from, &graph.unit);
    let pct = |v: i64| percentage(v, graph.total).trim().to_string();
    let total = graph.total.unsigned_abs() as f64;
    let title = graph.header.file.as_deref().unwrap_or("unnamed");
    writeln!(w, "digraph \"{}\" {{", escape(title))?;
    writeln!(w, "node [style=filled fillcolor=\"#f8f8f8\"]")?;
    if let Some(first) = graph.legend.first() {
        let label: Vec<String> = graph.legend.iter().map(|l| escape(l)).collect();
        writeln!(
            w,
            "subgraph cluster_L {{ \"{}\" [shape=box fontsize=16 label=\"{}\\l\"{}] }}",
            escape(first),
            label.join("\\l"),
            graph.header.file.as_deref().map(|f| format!(" tooltip=\"{}\"", escape(f))).unwrap_or_default()
        )?;
    }
    let max_flat = graph.nodes.iter().map(|n| n.flat.unsigned_abs()).max().unwrap_or(0) as f64;
    for (i, n) in graph.nodes.iter().enumerate() {
        let mut label = multiline_name(n);
        if n.flat != 0 {
            label.push_str(&format!("{} ({})", value(n.flat), pct(n.flat)));
        } else {
            label.push('0');
        }
        let mut cum_value = value(n.flat);
        if n.cum != n.flat {
            label.push_str(if n.flat != 0 { "\\n" } else { " " });
            cum_value = value(n.cum);
            label.push_str(&format!("of {cum_value} ({})", pct(n.cum)));
        }
        // Font from 8 to 24 points by the square root of the flat share, as pprof.
        let mut font = 8;
        if max_flat > 0.0 && n.flat != 0 {
            font += (16.0 * (n.flat.unsigned_abs() as f64 / max_flat).sqrt()).ceil() as i32;
        }
        let score = if total > 0.0 { n.cum as f64 / total } else { 0.0 };
        writeln!(
            w,
            "N{id} [label=\"{label}\" id=\"node{id}\" fontsize={font} shape=box tooltip=\"{} ({cum_value})\" color=\"{}\" fillcolor=\"{}\"]",
            escape(&n.name),
            color(score, false),
            color(score, true),
            id = i + 1,
        )?;
    }
    for e in &graph.edges {
        let (Some(src), Some(dst)) = (graph.nodes.get(e.from), graph.nodes.get(e.to)) else {
            continue;
        };
        let weight = value(e.weight);
        let inline = if e.inline { "\\n (inline)" } else { "" };
        let mut attr = format!("label=\" {weight}{inline}\"");
        if graph.total != 0 {
            let t = graph.total.unsigned_abs();
            let share =
                |scale: u64, cap: u64| 1 + (e.weight.unsigned_abs().saturating_mul(scale) / t).min(cap);
            if share(100, 100) > 1 {
                attr.push_str(&format!(" weight={}", share(100, 100)));
            }
            if share(5, 5) > 1 {
                attr.push_str(&format!(" penwidth={}", share(5, 5)));
            }
            attr.push_str(&format!(" color=\"{}\"", color(e.weight as f64 / total, false)));
        }
        let arrow = if e.residual { "..." } else { "->" };
        let tooltip = format!("\"{} {arrow} {} ({weight})\"", escape(&src.name), escape(&dst.name));
        attr.push_str(&format!(" tooltip={tooltip} labeltooltip={tooltip}"));
        if e.residual {
            attr.push_str(" style=\"dotted\"");
        }
        writeln!(w, "N{} -> N{} [{attr}]", e.from + 1, e.to + 1)?;
    }
    writeln!(w, "}}")
}

/// The node's name over several lines, as pprof's `multilinePrintableName`:
/// the function shortened and split at `::` and `.`, the file's base name.
fn multiline_name(node: &GraphNode) -> String {
    let mut parts: Vec<String> = Vec::with_capacity(3);
    if node.address != 0 {
        parts.push(format!("{:016x}", node.address));
    }
    if !node.function.is_empty() {
        let f = escape(&shorten_function_name(&node.function));
        parts.push(f.replace("::", "\\n").replace("[...]", "[…]").replace('.', "\\n"));
    }
    let file = escape(base_name(&node.file));
    if node.line != 0 {
        parts.push(format!("{file}:{}", node.line));
    } else if !file.is_empty() {
        parts.push(file);
    } else if !node.function.is_empty() {
    } else if !node.object.is_empty() {
        parts.push(format!("[{}]", escape(base_name(&node.object))));
    } else {
        parts.push("<unknown>".to_string());
    }
    format!("{}\\n", parts.join("\\n"))
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// pprof's `ShortenFunctionName`: the Go import path, the Java package, the C++
/// namespaces dropped (`encoding/json.Marshal` → `json.Marshal`).
fn shorten_function_name(name: &str) -> String {
    static ANON: LazyLock<Regex> = LazyLock::new(|| re(r"^\(anonymous namespace\)::"));
    static GO_VERSION: LazyLock<Regex> = LazyLock::new(|| re(r"^(.*?)/v(?:[2-9]|[1-9][0-9]+)([./].*)$"));
    static SHORTEN: LazyLock<[Regex; 3]> = LazyLock::new(|| {
        [
            re(r"^(?:[\w\-\.]+/)+([^.]+\..+)"),
            re(r"^(?:[a-z]\w*\.)*([A-Z][\w\$]*\.(?:<init>|[a-z][\w\$]*(?:\$\d+)?))(?:(?:\()|$)"),
            re(r"^(?:[_a-zA-Z]\w*::)+(_*[A-Z]\w*::~?[_a-zA-Z]\w*(?:<.*>)?)"),
        ]
    });
    let name = ANON.replace(name, "");
    let name = GO_VERSION.replace(&name, "${1}${2}");
    for re in SHORTEN.iter() {
        if let Some(caps) = re.captures(&name) {
            return caps.iter().skip(1).flatten().map(|m| m.as_str()).collect();
        }
    }
    name.into_owned()
}

/// A constant pattern (tested below).
fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad built-in pattern {pattern}: {e}"))
}

/// Escapes `s` for a quoted DOT string.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// pprof's `dotColor`: grey near 0, red for large positive shares, green for
/// large negative ones; pale for backgrounds.
fn color(score: f64, background: bool) -> String {
    const SHIFT: f64 = 0.7;
    let (mut saturation, value) = if background { (0.1, 0.93) } else { (1.0, 0.7) };
    let score = if score.is_nan() { 0.0 } else { score.clamp(-1.0, 1.0) };
    if score.abs() < 0.2 {
        saturation *= score.abs() / 0.2;
    }
    let score = if score > 0.0 {
        score.powf(1.0 - SHIFT)
    } else if score < 0.0 {
        -(-score).powf(1.0 - SHIFT)
    } else {
        score
    };
    let (r, g) = if score < 0.0 {
        (value * (1.0 + saturation * score), value)
    } else {
        (value, value * (1.0 - saturation * score))
    };
    let b = value * (1.0 - saturation);
    let byte = |x: f64| (x * 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_as_pprof() {
        // What pprof's dotColor computes for the same scores.
        assert_eq!(color(0.0, false), "#b2b2b2");
        assert_eq!(color(1.0, false), "#b20000");
        assert_eq!(color(1.0, true), "#edd5d5");
        assert_eq!(color(-1.0, false), "#00b200");
    }

    #[test]
    fn names_shortened_and_split_as_pprof() {
        let node = |function: &str, file: &str, line: i64, object: &str| GraphNode {
            name: String::new(),
            address: 0,
            function: function.to_string(),
            file: file.to_string(),
            line,
            object: object.to_string(),
            flat: 0,
            cum: 0,
        };
        assert_eq!(multiline_name(&node("encoding/json.Marshal", "", 0, "")), "json\\nMarshal\\n");
        assert_eq!(
            multiline_name(&node("alloc::vec::Vec<T>::push", "src/vec.rs", 9, "")),
            "alloc\\nvec\\nVec<T>\\npush\\nvec.rs:9\\n"
        );
        assert_eq!(multiline_name(&node("", "", 0, "/lib/libc-2.15.so")), "[libc-2.15.so]\\n");
        assert_eq!(shorten_function_name("github.com/x/y/v2/pkg.(*T).M"), "pkg.(*T).M");
        assert_eq!(shorten_function_name("heapprof::sampler::Sampler::sample"), "Sampler::sample");
        assert_eq!(shorten_function_name("com.example.Foo.bar(int)"), "Foo.bar");
        assert_eq!(multiline_name(&node("say \"hi\"", "", 0, "")), "say \\\"hi\\\"\\n");
    }
}
