//! The `tags` report: the values of every label key with the sample value they
//! carry, as pprof's `-tags` prints them; numeric labels such as the `bytes`
//! block size are grouped by their printed value (`2kB`, `1.20MB`).

use std::fmt;
use std::fmt::Write as _;

use hashbrown::HashMap;
use serde::Serialize;

use super::Report;
use super::tabwriter::align_right;
use super::traces::{num_label_units, unit_of};
use super::units::{percentage, scale, scaled_label};

/// One value of a label key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagValue {
    /// The value as printed (`main`, or a scaled number such as `2kB`).
    pub value: String,
    /// For numeric labels, the smallest and largest raw number printed as `value`.
    pub range: Option<(i64, i64)>,
    /// Sum of the selected sample value over samples with this label value.
    pub weight: i64,
    /// `weight` as a percentage of the key's total.
    pub percent: f64,
}

/// One label key with its values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagKey {
    /// The key.
    pub key: String,
    /// Unit of numeric values ("" for string labels).
    pub unit: String,
    /// Sum of the weights of its values.
    pub total: i64,
    /// Values, heaviest first, then by name.
    pub values: Vec<TagValue>,
}

/// A tags report (JSON schema `heapprof.tags.v1`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tags {
    /// Always `heapprof.tags.v1`.
    pub schema: &'static str,
    /// The sample type's unit (weights are in it).
    pub sample_unit: String,
    /// Keys, sorted by name.
    pub keys: Vec<TagKey>,
}

#[derive(Default)]
struct Acc {
    weight: i64,
    range: Option<(i64, i64)>,
}

impl Report {
    /// Label values and their weights (pprof's `-tags`).
    pub fn tags(&self) -> Tags {
        let view = &self.view;
        let units = num_label_units(view);
        // key -> value -> accumulated weight
        let mut keys: HashMap<String, HashMap<String, Acc>> = HashMap::new();
        // Weight per label set; `None` for sets no remaining sample has.
        let mut weights_by_set: Vec<Option<i64>> = vec![None; view.label_sets.len()];
        for (i, s) in view.samples.iter().enumerate() {
            let w = weights_by_set[s.labels as usize].get_or_insert(0);
            *w = w.wrapping_add(view.value(i, self.index));
        }
        for (set, w) in view.label_sets.iter().zip(&weights_by_set) {
            let Some(w) = *w else { continue };
            for &(k, v) in &set.strs {
                let acc = keys.entry_ref(view.str(k)).or_default().entry_ref(view.str(v)).or_default();
                acc.weight = acc.weight.wrapping_add(w);
            }
            for &(k, n, _) in &set.nums {
                let key = view.str(k);
                let label = scaled_label(n, unit_of(&units, key), "minimum");
                let acc = keys.entry_ref(key).or_default().entry(label).or_default();
                acc.weight = acc.weight.wrapping_add(w);
                acc.range = Some(acc.range.map_or((n, n), |(lo, hi)| (lo.min(n), hi.max(n))));
            }
        }
        let mut out: Vec<TagKey> = keys
            .into_iter()
            .map(|(key, values)| {
                let total = values.values().fold(0i64, |t, a| t.wrapping_add(a.weight));
                let mut values: Vec<TagValue> = values
                    .into_iter()
                    .map(|(value, acc)| TagValue {
                        value,
                        range: acc.range,
                        weight: acc.weight,
                        percent: if total > 0 {
                            (acc.weight as f64 / total as f64).abs() * 100.0
                        } else {
                            0.0
                        },
                    })
                    .collect();
                values
                    .sort_by(|a, b| b.weight.abs().cmp(&a.weight.abs()).then_with(|| a.value.cmp(&b.value)));
                let unit = if values.iter().any(|v| v.range.is_some()) {
                    unit_of(&units, &key).to_string()
                } else {
                    String::new()
                };
                TagKey { key, unit, total, values }
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Tags { schema: "heapprof.tags.v1", sample_unit: self.sample_unit().to_string(), keys: out }
    }
}

impl Tags {
    /// Prints the report in pprof's `-tags` layout.
    pub fn write_text(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        let unit = &self.sample_unit;
        let amount = |v: i64| {
            let (f, u) = scale(v, unit, "minimum");
            format!("{f:.1}{u}")
        };
        let mut cells = String::new();
        for k in &self.keys {
            writeln!(cells, "{}:\t Total {}", k.key, amount(k.total))?;
            for v in &k.values {
                if k.total > 0 {
                    writeln!(
                        cells,
                        " \t{} ({}):\t {}",
                        amount(v.weight),
                        percentage(v.weight, k.total),
                        v.value
                    )?;
                } else {
                    writeln!(cells, " \t{}:\t {}", amount(v.weight), v.value)?;
                }
            }
            writeln!(cells)?;
        }
        w.write_str(&align_right(&cells, 1))
    }
}
