//! Writing a heap profile as Go's `?debug=1` legacy text.

use std::collections::HashSet;
use std::io::Write;

use super::heap::{sampling_scale, scale_heap_sample};
use crate::merge::IdIndex;
use crate::{Error, Profile, Sample};

/// Writes `p` as Go's `?debug=1` heap profile text:
/// `heap profile: <inuse_objs>: <inuse_bytes> [<alloc_objs>: <alloc_bytes>] @ heap/<2*period>`,
/// one `count: bytes [count: bytes] @ 0xPC…` row per sample (largest in-use bytes
/// first), each followed by `#\t0xPC\tfunction\tfile:line` lines for its symbolized
/// frames and a blank line. `go tool pprof` and [`parse_legacy`](crate::parse_legacy)
/// read it back.
///
/// The rows hold sampled counts, as Go writes them: the profile's unbiased values are
/// mapped back through pprof's unbiasing at `period`, exactly where the values came
/// from such a mapping (Go's own profiles), so reading the text back gives the same
/// values; other values come back within rounding. Sample types are found by name
/// (`alloc_objects`, `alloc_space`, `inuse_objects`, `inuse_space`, or gperftools'
/// `objects` and `space`); missing alloc values are written equal to the in-use ones.
/// Locations without an address, or sharing one, get unused stand-in addresses.
/// Labels cannot be written in this format and are dropped.
///
/// Errors: [`Error::LegacyWrite`] when the profile has no space sample type, holds
/// negative alloc values or has negative totals; [`Error::Io`] when writing fails.
pub fn write_legacy_heap(p: &Profile, out: &mut impl Write) -> Result<(), Error> {
    let columns = Columns::find(p)?;
    let rate = p.period;
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(p.sample.len());
    for (i, s) in p.sample.iter().enumerate() {
        let (inuse, alloc) = columns.values(s);
        if alloc.0 < 0 || alloc.1 < 0 {
            return Err(Error::LegacyWrite(format!(
                "sample {i} has negative alloc values {alloc:?}, which the format cannot hold"
            )));
        }
        rows.push((unscale(inuse, rate), unscale(alloc, rate), s));
    }
    // Go writes the records with the most in-use bytes first.
    rows.sort_by_key(|r| std::cmp::Reverse(r.0.1));
    let total = |f: fn(&Row<'_>) -> i64| rows.iter().map(f).fold(0i64, i64::saturating_add);
    let totals = [total(|r| r.0.0), total(|r| r.0.1), total(|r| r.1.0), total(|r| r.1.1)];
    if totals.iter().any(|&t| t < 0) {
        return Err(Error::LegacyWrite(format!(
            "negative totals {totals:?} (a difference of profiles?), which the header cannot hold"
        )));
    }
    let mut w = std::io::BufWriter::new(out);
    writeln!(
        w,
        "heap profile: {}: {} [{}: {}] @ heap/{}",
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        rate.saturating_mul(2)
    )?;
    let addresses = Addresses::new(p);
    let locations = IdIndex::new(p.location.iter().map(|l| l.id));
    let functions = IdIndex::new(p.function.iter().map(|f| f.id));
    for ((in_n, in_b), (al_n, al_b), s) in &rows {
        write!(w, "{in_n}: {in_b} [{al_n}: {al_b}] @")?;
        let frames: Vec<Option<usize>> = s.location_id.iter().map(|&id| locations.get(id)).collect();
        for &frame in &frames {
            write!(w, " {:#x}", addresses.written(frame))?;
        }
        writeln!(w)?;
        for &frame in &frames {
            let Some(loc) = frame.and_then(|i| p.location.get(i)) else {
                continue;
            };
            let pc = addresses.written(frame).wrapping_sub(1);
            for line in &loc.line {
                let Some(f) = functions.get(line.function_id).and_then(|i| p.function.get(i)) else {
                    continue;
                };
                let name = Some(p.str(f.name)).filter(|n| !n.is_empty()).unwrap_or(p.str(f.system_name));
                if name.is_empty() {
                    continue;
                }
                writeln!(
                    w,
                    "#\t{pc:#x}\t{}\t{}:{}",
                    one_field(name),
                    one_field(p.str(f.filename)),
                    line.line
                )?;
            }
        }
        writeln!(w)?;
    }
    w.flush()?;
    Ok(())
}

/// A sample's sampled (in-use, alloc) (count, bytes), and the sample.
type Row<'a> = ((i64, i64), (i64, i64), &'a Sample);

/// Keeps a name inside one tab-separated field of one line.
fn one_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
        s.replace(['\t', '\n', '\r'], " ").into()
    } else {
        s.into()
    }
}

/// Where the in-use and alloc (count, bytes) values of a sample are.
#[derive(Debug)]
struct Columns {
    inuse: (Option<usize>, Option<usize>),
    alloc: Option<(Option<usize>, usize)>,
    bytes_label: i64,
}

impl Columns {
    fn find(p: &Profile) -> Result<Self, Error> {
        let index = |name: &str| p.sample_type.iter().position(|t| p.str(t.r#type) == name);
        let inuse_space = index("inuse_space").or_else(|| index("space"));
        let inuse_objects = index("inuse_objects").or_else(|| index("objects"));
        let alloc_space = index("alloc_space");
        if inuse_space.is_none() && alloc_space.is_none() {
            let types: Vec<&str> = p.sample_type.iter().map(|t| p.str(t.r#type)).collect();
            return Err(Error::LegacyWrite(format!(
                "no inuse_space, space or alloc_space sample type (has {types:?})"
            )));
        }
        let bytes_label = p.string_table.iter().position(|s| s == "bytes").map_or(-1, |i| i as i64);
        Ok(Columns {
            inuse: (inuse_objects, inuse_space),
            alloc: alloc_space.map(|s| (index("alloc_objects"), s)),
            bytes_label,
        })
    }

    /// ((inuse count, inuse bytes), (alloc count, alloc bytes)), unbiased.
    fn values(&self, s: &Sample) -> ((i64, i64), (i64, i64)) {
        let get = |i: Option<usize>| i.and_then(|i| s.value.get(i).copied()).unwrap_or(0);
        let block = s.label.iter().find(|l| l.key == self.bytes_label && l.str == 0).map(|l| l.num);
        // A count must go with the bytes; without one, derive it from the block size.
        let count = |n: Option<usize>, bytes: i64| match n {
            Some(_) => get(n),
            None if bytes == 0 => 0,
            None => match block {
                Some(b) if b > 0 => (bytes / b).max(1),
                _ => bytes.signum(),
            },
        };
        let inuse = match self.inuse.1 {
            Some(b) => {
                let bytes = get(Some(b));
                (count(self.inuse.0, bytes), bytes)
            }
            None => (0, 0),
        };
        let alloc = match self.alloc {
            Some((n, b)) => {
                let bytes = get(Some(b));
                (count(n, bytes), bytes)
            }
            None => inuse,
        };
        (inuse, alloc)
    }
}

/// The return addresses written for each location (by position): its address plus one
/// (the parser subtracts one), or an unused stand-in for a missing or shared address.
#[derive(Debug)]
struct Addresses {
    by_position: Vec<u64>,
}

impl Addresses {
    fn new(p: &Profile) -> Self {
        let used: HashSet<u64> =
            p.location.iter().filter(|l| l.address != 0).map(|l| l.address.wrapping_add(1)).collect();
        let mut taken = HashSet::with_capacity(p.location.len());
        let mut next_fake = 0x1000u64;
        let by_position = p
            .location
            .iter()
            .map(|l| {
                let written = l.address.wrapping_add(1);
                if l.address != 0 && taken.insert(written) {
                    return written;
                }
                while used.contains(&next_fake) || taken.contains(&next_fake) {
                    next_fake = next_fake.wrapping_add(0x10);
                }
                taken.insert(next_fake);
                next_fake
            })
            .collect();
        Addresses { by_position }
    }

    /// The address for a location position; 0 for a missing location.
    fn written(&self, position: Option<usize>) -> u64 {
        position.and_then(|i| self.by_position.get(i)).copied().unwrap_or(0)
    }
}

/// The sampled (count, bytes) that pprof's unbiasing at `rate` turns into `value`:
/// exact when such a pair exists, else the nearest estimate.
fn unscale((count, size): (i64, i64), rate: i64) -> (i64, i64) {
    if rate <= 1 {
        return (count, size);
    }
    if size == 0 {
        return (0, 0);
    }
    let count = if count == 0 { size.signum() } else { count };
    if (count < 0) != (size < 0) {
        return (count, size);
    }
    let sign = count.signum();
    let (c, z) = (count.saturating_abs(), size.saturating_abs());
    let (rc, rz) = unscale_positive(c, z, rate);
    (sign.saturating_mul(rc), sign.saturating_mul(rz))
}

fn unscale_positive(c: i64, z: i64, rate: i64) -> (i64, i64) {
    let target = (c, z);
    let s = sampling_scale(z as f64 / c as f64, rate);
    let (c0, z0) = ((c as f64 / s).round() as i64, (z as f64 / s).round() as i64);
    // Most records: the direct estimate or a neighbour.
    for dc in [0, -1, 1] {
        for dz in [0, -1, 1, -2, 2] {
            let (rc, rz) = (c0.saturating_add(dc), z0.saturating_add(dz));
            if rc >= 1 && rz >= 1 && scale_heap_sample(rc, rz, rate) == target {
                return (rc, rz);
            }
        }
    }
    // Small counts: the scaled average is far from the sampled one. Search the bytes
    // for each candidate count (the scaled bytes grow with the sampled bytes), refining
    // the count from the scale the found bytes imply.
    let mut rc = c0.max(1);
    for _ in 0..4 {
        let rz = smallest_size_reaching(rc, z, rate);
        for candidate in rz..rz.saturating_add(3) {
            if scale_heap_sample(rc, candidate, rate) == target {
                return (rc, candidate);
            }
        }
        let refined = ((c as f64) / sampling_scale(rz as f64 / rc as f64, rate)).round() as i64;
        let refined = refined.max(1);
        if refined == rc {
            break;
        }
        rc = refined;
    }
    for rc in [rc.saturating_sub(1), rc.saturating_add(1)] {
        if rc >= 1 {
            let rz = smallest_size_reaching(rc, z, rate);
            for candidate in rz..rz.saturating_add(3) {
                if scale_heap_sample(rc, candidate, rate) == target {
                    return (rc, candidate);
                }
            }
        }
    }
    (c0.max(1), z0.max(1))
}

/// The smallest sampled byte count whose scaled value, with `count` objects, is at
/// least `z` (binary search; the scaled value does not decrease as bytes grow).
fn smallest_size_reaching(count: i64, z: i64, rate: i64) -> i64 {
    let (mut lo, mut hi) = (1i64, z.max(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if scale_heap_sample(count, mid, rate).1 >= z {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unscale_inverts_go_scaling() {
        let rate = 524_288;
        for (c, z) in
            [(56, 58_720_256), (1, 1_253_376), (1, 16), (3, 1_572_864), (642, 6_574_080), (25, 76_800)]
        {
            let scaled = scale_heap_sample(c, z, rate);
            let back = unscale(scaled, rate);
            assert_eq!(scale_heap_sample(back.0, back.1, rate), scaled, "{c} {z}");
        }
        assert_eq!(unscale((5, 100), 1), (5, 100));
        assert_eq!(unscale((0, 0), rate), (0, 0));
    }
}
