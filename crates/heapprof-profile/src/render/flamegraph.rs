//! SVG flame graphs of folded stacks, drawn by `inferno` (interactive: click to
//! zoom, Ctrl-F to search). Differential graphs are inferno's: frames as wide as
//! in the new profile, red where they grew, blue where they shrank.

use std::io;

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Direction, Options};

use super::RenderError;
use super::flame_input::{FlameLine, FlameText, inferno_input};
use super::folded::{DiffFolded, Folded};
use super::stacks::StackSet;
use crate::report::Report;
use crate::report::units::scaled_label;

/// How a flame graph is drawn.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlameOptions {
    /// The title at the top.
    pub title: String,
    /// A line under the title.
    pub subtitle: Option<String>,
    /// What values count (`bytes`, `count`…), shown in each frame's tooltip.
    pub count_name: String,
    /// Roots at the top, stacks growing down (an icicle graph).
    pub inverted: bool,
}

impl FlameOptions {
    /// Titled after `report`'s sample type and the drawn `total`
    /// (`inuse_space: 1.50MB total`).
    pub fn for_report(report: &Report, total: i64) -> FlameOptions {
        let unit = report.sample_unit();
        FlameOptions {
            title: format!("{}: {} total", report.sample_type(), scaled_label(total, unit, "minimum")),
            subtitle: None,
            count_name: count_name(unit),
            inverted: false,
        }
    }

    /// Titled after `report`'s sample type and the two totals
    /// (`inuse_space: 1MB → 1.50MB (+0.50MB)`).
    pub fn for_diff(report: &Report, base_total: i64, new_total: i64) -> FlameOptions {
        let unit = report.sample_unit();
        let label = |v: i64| scaled_label(v, unit, "minimum");
        let change = new_total.wrapping_sub(base_total);
        let sign = if change > 0 { "+" } else { "" };
        FlameOptions {
            title: format!(
                "{}: {} → {} ({sign}{})",
                report.sample_type(),
                label(base_total),
                label(new_total),
                label(change)
            ),
            subtitle: Some("width: the new profile; red: grew, blue: shrank".to_string()),
            count_name: count_name(unit),
            inverted: false,
        }
    }

    fn inferno(&self) -> Options<'static> {
        let mut o = Options::default();
        o.title = self.title.clone();
        o.subtitle = self.subtitle.clone();
        o.count_name = self.count_name.clone();
        o.direction = if self.inverted { Direction::Inverted } else { Direction::Straight };
        o.colors = Palette::Basic(BasicPalette::Mem);
        // Colours from a hash of the name, not random: the same input draws the
        // same bytes.
        o.deterministic = true;
        o
    }
}

fn count_name(unit: &str) -> String {
    if unit.is_empty() { "samples".to_string() } else { unit.to_string() }
}

/// Draws `folded` as an SVG flame graph into `w`.
pub fn flamegraph(folded: &Folded, opts: &FlameOptions, w: impl io::Write) -> Result<(), RenderError> {
    let set = &folded.set;
    let mut empty = true;
    for (frames, value) in set.iter() {
        check(set, frames, value)?;
        empty &= value == 0;
    }
    if empty {
        return draw_empty(opts, w);
    }
    let lines = set.iter().map(|(frames, value)| FlameLine { frames, value: value as u64, base: None });
    draw(|min_width| inferno_input(set, lines, min_width), opts, w)
}

/// Draws a differential flame graph of `diff` into `w`.
pub fn differential_flamegraph(
    diff: &DiffFolded,
    opts: &FlameOptions,
    w: impl io::Write,
) -> Result<(), RenderError> {
    let set = &diff.set;
    let mut empty = true;
    for (frames, (base, new)) in set.iter() {
        check(set, frames, base)?;
        check(set, frames, new)?;
        empty &= new == 0;
    }
    // Widths are the new profile's: with nothing in it, nothing can be drawn.
    if empty {
        return draw_empty(opts, w);
    }
    let lines = set.iter().map(|(frames, (base, new))| FlameLine {
        frames,
        value: new as u64,
        base: Some(base as u64),
    });
    draw(|min_width| inferno_input(set, lines, min_width), opts, w)
}

fn check<V>(set: &StackSet<V>, frames: &[u32], value: i64) -> Result<(), RenderError> {
    if value < 0 {
        return Err(RenderError::Negative { stack: set.stack_text(frames), value });
    }
    Ok(())
}

/// Draws the lines `input` writes (given inferno's minimum frame width).
fn draw(
    input: impl FnOnce(f64) -> FlameText,
    opts: &FlameOptions,
    w: impl io::Write,
) -> Result<(), RenderError> {
    let mut o = opts.inferno();
    // Folded stacks come sorted (reverse them with `Folded::reversed`).
    o.no_sort = true;
    let text = input(o.min_width);
    flamegraph::from_lines(&mut o, text.lines(), w)?;
    Ok(())
}

/// What says there is nothing to draw.
const NO_SAMPLES: &str = "No samples to draw: the profile is empty, or the filters left nothing.";

/// The picture of no samples (an empty profile, or filters that keep nothing):
/// the title and a line saying so. inferno refuses to draw it, which would make
/// an empty selection an error where the text reports print an empty table.
fn draw_empty(opts: &FlameOptions, mut w: impl io::Write) -> Result<(), RenderError> {
    let line = |y: u32, size: u32, text: &str| {
        format!(
            "<text x=\"600\" y=\"{y}\" text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"{size}\">{}</text>\n",
            xml_text(text)
        )
    };
    let mut svg = String::from(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"1200\" height=\"110\" \
         viewBox=\"0 0 1200 110\" xmlns=\"http://www.w3.org/2000/svg\">\n",
    );
    svg += &line(24, 17, &opts.title);
    if let Some(subtitle) = &opts.subtitle {
        svg += &line(48, 12, subtitle);
    }
    svg += &line(84, 12, NO_SAMPLES);
    svg += "</svg>\n";
    w.write_all(svg.as_bytes())?;
    w.flush()?;
    Ok(())
}

/// `text` escaped for XML character data.
fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::report::{Granularity, ReportOptions, View};

    fn report(file: &str, sample_index: &str) -> Report {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/go-heap").join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let profile = crate::decode(&bytes).expect("corpus profile decodes");
        let view = View::from_profiles(&[&profile]).expect("view");
        let opts = ReportOptions { sample_index: Some(sample_index.to_string()), ..ReportOptions::default() };
        Report::new(view, &opts).expect("report")
    }

    /// What inferno draws from every line of the folded text (how heapprof drew
    /// flame graphs before it cut narrow runs down).
    fn from_all_lines(folded_text: &str, opts: &FlameOptions) -> Vec<u8> {
        let mut o = opts.inferno();
        o.no_sort = true;
        let mut out = Vec::new();
        flamegraph::from_lines(&mut o, folded_text.lines(), &mut out).expect("inferno draws it");
        out
    }

    fn text(write: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
        let mut s = String::new();
        write(&mut s).expect("formatting into a String");
        s
    }

    #[test]
    fn corpus_flame_graphs_are_those_of_their_folded_text() {
        let indexes = ["alloc_objects", "alloc_space", "inuse_objects", "inuse_space"];
        for file in ["default/full.pb.gz", "rate1/full.pb.gz", "rate1/cache.pb.gz"] {
            for index in indexes {
                let r = report(file, index);
                for granularity in [Granularity::Functions, Granularity::Lines] {
                    let folded = Folded::new(&r, granularity);
                    for f in [folded.reversed(), folded] {
                        let full = text(|s| f.write_text(s));
                        let lines: Vec<&str> = full.lines().collect();
                        assert!(lines.is_sorted(), "{file} {index}: folded lines out of order");
                        let opts = FlameOptions::for_report(&r, f.total());
                        let mut svg = Vec::new();
                        flamegraph(&f, &opts, &mut svg).expect("drawn");
                        assert!(svg == from_all_lines(&full, &opts), "{file} {index} {granularity:?}");
                    }
                }
            }
        }
        for (base, new) in
            [("default/cache.pb.gz", "default/full.pb.gz"), ("rate1/full.pb.gz", "rate1/cache.pb.gz")]
        {
            let (b, n) = (report(base, "alloc_space"), report(new, "alloc_space"));
            let diff =
                DiffFolded::new(&Folded::new(&b, Granularity::Lines), &Folded::new(&n, Granularity::Lines));
            let (bt, nt) = diff.totals();
            let opts = FlameOptions::for_diff(&n, bt, nt);
            let mut svg = Vec::new();
            differential_flamegraph(&diff, &opts, &mut svg).expect("drawn");
            assert!(svg == from_all_lines(&text(|s| diff.write_text(s)), &opts), "{base} → {new}");
        }
    }

    #[test]
    fn no_samples_draw_the_title_and_say_so() {
        let opts = FlameOptions { title: "inuse_space: 0B <&> total".into(), ..FlameOptions::default() };
        let empty = Folded::from_stacks([]);
        let zeros = Folded::from_stacks([("a;b", 0)]);
        for f in [&empty, &zeros] {
            let mut svg = Vec::new();
            flamegraph(f, &opts, &mut svg).expect("an empty picture, not an error");
            let svg = String::from_utf8(svg).unwrap();
            assert!(svg.starts_with("<?xml") && svg.ends_with("</svg>\n"), "{svg}");
            assert!(
                svg.contains(">inuse_space: 0B &lt;&amp;&gt; total<") && svg.contains(NO_SAMPLES),
                "{svg}"
            );
        }
        // A differential graph whose new profile is empty (everything was freed).
        let base = Folded::from_stacks([("a;b", 5)]);
        let mut svg = Vec::new();
        differential_flamegraph(&DiffFolded::new(&base, &empty), &opts, &mut svg).expect("drawn");
        assert!(String::from_utf8(svg).unwrap().contains(NO_SAMPLES));
    }

    #[test]
    fn negative_values_are_refused_naming_the_first_stack() {
        let f = Folded::from_stacks([("a;b", 5), ("a;c", -3), ("a;d", -1)]);
        let err = flamegraph(&f, &FlameOptions::default(), Vec::new()).unwrap_err();
        assert!(matches!(err, RenderError::Negative { ref stack, value: -3 } if stack == "a;c"), "{err}");
    }
}
