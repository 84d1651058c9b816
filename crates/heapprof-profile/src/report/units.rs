//! Value formatting as `go tool pprof` prints it: unit scaling (`B`, `kB`, `MB`…),
//! the two-decimal labels and the percentage column. Matching its output byte for
//! byte is what lets our rows be compared with pprof's line by line.

/// One unit of a family (bytes, time, GCU): its printed name, the spellings that
/// select it, and its size in the family's base unit.
struct Unit {
    name: &'static str,
    aliases: &'static [&'static str],
    factor: f64,
}

/// A family of units that convert into each other.
struct UnitFamily {
    default: Unit,
    units: &'static [Unit],
}

const KIB: f64 = 1024.0;

static FAMILIES: &[UnitFamily] = &[
    UnitFamily {
        default: Unit { name: "B", aliases: &["b", "byte"], factor: 1.0 },
        units: &[
            Unit { name: "B", aliases: &["b", "byte"], factor: 1.0 },
            Unit { name: "kB", aliases: &["kb", "kbyte", "kilobyte"], factor: KIB },
            Unit { name: "MB", aliases: &["mb", "mbyte", "megabyte"], factor: KIB * KIB },
            Unit { name: "GB", aliases: &["gb", "gbyte", "gigabyte"], factor: KIB * KIB * KIB },
            Unit { name: "TB", aliases: &["tb", "tbyte", "terabyte"], factor: KIB * KIB * KIB * KIB },
            Unit { name: "PB", aliases: &["pb", "pbyte", "petabyte"], factor: KIB * KIB * KIB * KIB * KIB },
        ],
    },
    UnitFamily {
        default: Unit { name: "s", aliases: &[], factor: 1e9 },
        units: &[
            Unit { name: "ns", aliases: &["ns", "nanosecond"], factor: 1.0 },
            Unit { name: "us", aliases: &["μs", "us", "microsecond"], factor: 1e3 },
            Unit { name: "ms", aliases: &["ms", "millisecond"], factor: 1e6 },
            Unit { name: "s", aliases: &["s", "sec", "second"], factor: 1e9 },
            Unit { name: "hrs", aliases: &["hour", "hr"], factor: 3600e9 },
        ],
    },
    UnitFamily {
        default: Unit { name: "GCU", aliases: &[], factor: 1.0 },
        units: &[
            Unit { name: "n*GCU", aliases: &["nanogcu"], factor: 1e-9 },
            Unit { name: "u*GCU", aliases: &["microgcu"], factor: 1e-6 },
            Unit { name: "m*GCU", aliases: &["milligcu"], factor: 1e-3 },
            Unit { name: "GCU", aliases: &["gcu"], factor: 1.0 },
            Unit { name: "k*GCU", aliases: &["kilogcu"], factor: 1e3 },
            Unit { name: "M*GCU", aliases: &["megagcu"], factor: 1e6 },
            Unit { name: "G*GCU", aliases: &["gigagcu"], factor: 1e9 },
            Unit { name: "T*GCU", aliases: &["teragcu"], factor: 1e12 },
            Unit { name: "P*GCU", aliases: &["petagcu"], factor: 1e15 },
        ],
    },
];

impl UnitFamily {
    /// The unit a spelling such as `bytes` or `MB` stands for: case-insensitive,
    /// a plural `s` dropped from names longer than two letters.
    fn sniff(&self, unit: &str) -> Option<&Unit> {
        let lower = unit.to_lowercase();
        let name = if lower.len() > 2 { lower.strip_suffix('s').unwrap_or(&lower) } else { &lower };
        self.units.iter().find(|u| u.aliases.contains(&name))
    }

    /// The largest unit that keeps `value` (in base units) at 1 or more.
    fn auto_scale(&self, value: f64) -> Option<(f64, &'static str)> {
        let mut best: Option<&Unit> = None;
        for u in self.units {
            if u.factor >= best.map_or(0.0, |b| b.factor) && value / u.factor >= 1.0 {
                best = Some(u);
            }
        }
        best.map(|u| (value / u.factor, u.name))
    }

    fn convert(&self, value: i64, from: &str, to: &str) -> Option<(f64, String)> {
        let from = self.sniff(from)?;
        let v = value as f64 * from.factor;
        if to == "minimum" || to == "auto" {
            let (v, name) = self.auto_scale(v).unwrap_or((v / self.default.factor, self.default.name));
            return Some((v, name.to_string()));
        }
        let target = self.sniff(to).unwrap_or(&self.default);
        Some((v / target.factor, target.name.to_string()))
    }
}

/// Converts `value` from unit `from` to unit `to` (`minimum`/`auto` pick the largest
/// unit that keeps the value at 1 or more). Returns the scaled value and the unit
/// to print, "" for plain counts.
pub fn scale(value: i64, from: &str, to: &str) -> (f64, String) {
    if value < 0 && value != i64::MIN {
        let (v, u) = scale(-value, from, to);
        return (-v, u);
    }
    for family in FAMILIES {
        if let Some(r) = family.convert(value, from, to) {
            return r;
        }
    }
    match to {
        "count" | "sample" | "unit" | "minimum" | "auto" => (value as f64, String::new()),
        _ => (value as f64, to.to_string()),
    }
}

/// `value` scaled to `to` with two decimals, `.00` dropped and zero printed as `0`
/// (pprof's `ScaledLabel`): `64.76MB`, `2kB`, `0`.
pub fn scaled_label(value: i64, from: &str, to: &str) -> String {
    let (v, unit) = scale(value, from, to);
    let text = format!("{v:.2}");
    let text = text.strip_suffix(".00").unwrap_or(&text);
    if text == "0" || text == "-0" {
        return "0".to_string();
    }
    format!("{text}{unit}")
}

/// `value` as a percentage of `total` in pprof's column format: `46.18%`, `  100%`,
/// ` 0.36%`, `0.0094%`, `    0%` (the magnitude only: pprof drops the sign).
pub fn percentage(value: i64, total: i64) -> String {
    let ratio = if total != 0 { (value as f64 / total as f64).abs() * 100.0 } else { 0.0 };
    if (99.95..=100.05).contains(&ratio) {
        "  100%".to_string()
    } else if ratio >= 1.0 {
        format!("{ratio:5.2}%")
    } else {
        format!("{:>5}%", format_g(ratio, 2))
    }
}

/// The output unit pprof picks for a report whose smallest nonzero value is
/// `min_value` and whose total is `max_value` (`selectOutputUnit`): the unit of the
/// smallest value, or of a hundred times it when that still differs from the
/// total's unit (so small values print as `0.01MB` rather than in bytes).
pub fn select_output_unit(min_value: i64, max_value: i64, sample_unit: &str) -> String {
    let min_value = if min_value == 0 { max_value } else { min_value };
    let (_, min_unit) = scale(min_value, sample_unit, "minimum");
    let (_, max_unit) = scale(max_value, sample_unit, "minimum");
    let mut unit = min_unit.clone();
    if min_unit != max_unit && min_value.saturating_mul(100) < max_value {
        unit = scale(min_value.saturating_mul(100), sample_unit, "minimum").1;
    }
    if unit.is_empty() { sample_unit.to_string() } else { unit }
}

/// Go's `%.<prec>g`: `prec` significant digits, trailing zeros dropped, exponent
/// form (`9.7e-05`) when the exponent is below -4 or at least the precision.
pub fn format_g(value: f64, prec: usize) -> String {
    if value == 0.0 {
        return "0".to_string();
    }
    if !value.is_finite() {
        return format!("{value}");
    }
    let prec = prec.max(1);
    // Rust's `{:e}` rounds correctly to the requested digits, as Go does.
    let sci = format!("{:.*e}", prec - 1, value.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    let nd = digits.len() as i32;
    let dp = exp + 1; // position of the decimal point relative to the digits
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let sign = if value < 0.0 { "-" } else { "" };
    let x = dp - 1;
    if x < -4 || x >= eprec {
        let first = digits[0] as char;
        let rest = std::str::from_utf8(&digits[1..]).unwrap_or("");
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if x < 0 { '-' } else { '+' };
        return format!("{sign}{first}{dot}{rest}e{esign}{:02}", x.abs());
    }
    let decimals = if prec as i32 > dp { (nd - dp).max(0) } else { 0 } as usize;
    let mut out = String::from(sign);
    if dp <= 0 {
        out.push('0');
    } else {
        for i in 0..dp {
            out.push(*digits.get(i as usize).unwrap_or(&b'0') as char);
        }
    }
    if decimals > 0 {
        out.push('.');
        for i in 0..decimals as i32 {
            let at = dp + i;
            let c = if at < 0 { b'0' } else { *digits.get(at as usize).unwrap_or(&b'0') };
            out.push(c as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_pprof() {
        assert_eq!(scaled_label(67_906_048, "bytes", "MB"), "64.76MB");
        assert_eq!(scaled_label(0, "bytes", "MB"), "0");
        assert_eq!(scaled_label(2048, "bytes", "minimum"), "2kB");
        assert_eq!(scaled_label(144, "bytes", "minimum"), "144B");
        assert_eq!(scaled_label(1_258_291, "bytes", "auto"), "1.20MB");
        assert_eq!(scaled_label(12, "count", "count"), "12");
        assert_eq!(scaled_label(-3 * 1024 * 1024, "bytes", "MB"), "-3MB");
        assert_eq!(scaled_label(30_000_000_000, "nanoseconds", "auto"), "30s");
    }

    #[test]
    fn percentages_match_pprof() {
        assert_eq!(percentage(4618, 10000), "46.18%");
        assert_eq!(percentage(1, 1), "  100%");
        assert_eq!(percentage(0, 10), "    0%");
        assert_eq!(percentage(36, 10000), " 0.36%");
        assert_eq!(percentage(94, 1_000_000), "0.0094%");
        assert_eq!(percentage(97, 100_000_000), "9.7e-05%");
        assert_eq!(percentage(78, 100_000), "0.078%");
        assert_eq!(percentage(2, 1000), "  0.2%");
        assert_eq!(percentage(5, 0), "    0%");
    }

    #[test]
    fn go_g_format() {
        assert_eq!(format_g(0.996, 2), "1");
        assert_eq!(format_g(0.00045, 2), "0.00045");
        assert_eq!(format_g(0.000045, 2), "4.5e-05");
        assert_eq!(format_g(12.0, 2), "12");
        assert_eq!(format_g(123.0, 2), "1.2e+02");
    }

    #[test]
    fn output_unit_selection() {
        assert_eq!(select_output_unit(16, 262_823_936, "bytes"), "kB");
        assert_eq!(select_output_unit(524_288, 147_000_000, "bytes"), "MB");
        assert_eq!(select_output_unit(3, 30_000, "count"), "count");
    }
}
