//! SVG flame graphs of folded stacks, drawn by `inferno` (interactive: click to
//! zoom, Ctrl-F to search). Differential graphs are inferno's: frames as wide as
//! in the new profile, red where they grew, blue where they shrank.

use std::io;

use inferno::flamegraph::color::{BasicPalette, Palette};
use inferno::flamegraph::{self, Direction, Options};

use super::RenderError;
use super::folded::{DiffFolded, Folded};
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
    let mut lines = Vec::with_capacity(folded.stacks.len());
    for (stack, value) in &folded.stacks {
        check(stack, *value)?;
        lines.push(format!("{stack} {value}"));
    }
    draw(&lines, opts, w)
}

/// Draws a differential flame graph of `diff` into `w`.
pub fn differential_flamegraph(
    diff: &DiffFolded,
    opts: &FlameOptions,
    w: impl io::Write,
) -> Result<(), RenderError> {
    let mut lines = Vec::with_capacity(diff.stacks.len());
    for (stack, base, new) in &diff.stacks {
        check(stack, *base)?;
        check(stack, *new)?;
        lines.push(format!("{stack} {base} {new}"));
    }
    draw(&lines, opts, w)
}

fn check(stack: &str, value: i64) -> Result<(), RenderError> {
    if value < 0 {
        return Err(RenderError::Negative { stack: stack.to_string(), value });
    }
    Ok(())
}

fn draw(lines: &[String], opts: &FlameOptions, w: impl io::Write) -> Result<(), RenderError> {
    let mut o = opts.inferno();
    // Folded stacks come sorted (reverse them with `Folded::reversed`).
    o.no_sort = true;
    flamegraph::from_lines(&mut o, lines.iter().map(String::as_str), w)?;
    Ok(())
}
