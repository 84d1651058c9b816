//! The accuracy workload: a few allocation sites whose true allocated and live bytes
//! are known exactly (the workload counts them as it goes), and the code that reads a
//! profiler's per-site estimates back: heapprof's pprof profile, or `jeprof --text`
//! on a jemalloc heap dump.

use heapprof::pprof::Profile;

/// What one site allocated, exactly or as a profiler estimates it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SiteTotals {
    /// Blocks allocated.
    pub alloc_objects: f64,
    /// Bytes allocated.
    pub alloc_bytes: f64,
    /// Blocks still live at the snapshot.
    pub live_objects: f64,
    /// Bytes still live at the snapshot.
    pub live_bytes: f64,
}

/// One site of the workload: `allocs` blocks of `size` bytes (0: log-uniform 16 B–64 KiB)
/// of which the last `live` are still held at the snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Site {
    /// The site's function name, unique in the binary (`accuracy::site_<name>`).
    pub name: &'static str,
    /// Block size in bytes, 0 for mixed sizes.
    pub size: usize,
    /// Blocks allocated by the site at scale 1.
    pub allocs: usize,
    /// Blocks still live at the end, at scale 1.
    pub live: usize,
}

/// The sites, each about 32 MiB live at scale 1 (about 190 MiB in all).
pub const SITES: [Site; 6] = [
    Site { name: "site_32b", size: 32, allocs: 2_000_000, live: 1_000_000 },
    Site { name: "site_256b", size: 256, allocs: 500_000, live: 125_000 },
    Site { name: "site_4kib", size: 4096, allocs: 64_000, live: 8_000 },
    Site { name: "site_64kib", size: 65536, allocs: 4_000, live: 500 },
    Site { name: "site_1mib", size: 1 << 20, allocs: 256, live: 32 },
    Site { name: "site_mixed", size: 0, allocs: 100_000, live: 10_000 },
];

/// The blocks the sites still hold, and the exact totals per site (in `SITES` order).
#[derive(Debug)]
pub struct Held {
    /// Per site, the live blocks.
    pub blocks: Vec<Vec<Vec<u8>>>,
    /// Per site, the truth.
    pub truth: Vec<SiteTotals>,
}

/// A site's loop: `(allocs, ring, sizes)` → (allocated objects, allocated bytes).
type SiteFn = fn(usize, &mut [Vec<u8>], &mut [usize]) -> (f64, f64);

/// Runs every site with its counts divided by `divisor` (1 = full size).
pub fn run_sites(divisor: usize) -> Held {
    let mut held = Held { blocks: Vec::new(), truth: Vec::new() };
    for site in SITES {
        let allocs = (site.allocs / divisor).max(1);
        let live = (site.live / divisor).clamp(1, allocs);
        // The holder is allocated here, outside the sites, so it is nobody's site.
        let mut ring: Vec<Vec<u8>> = (0..live).map(|_| Vec::new()).collect();
        let mut sizes = vec![0usize; live];
        let f: SiteFn = match site.name {
            "site_32b" => site_32b,
            "site_256b" => site_256b,
            "site_4kib" => site_4kib,
            "site_64kib" => site_64kib,
            "site_1mib" => site_1mib,
            _ => site_mixed,
        };
        let fixed = site.size;
        let (alloc_objects, alloc_bytes) = if fixed == 0 {
            f(allocs, &mut ring, &mut sizes)
        } else {
            sizes.fill(fixed);
            f(allocs, &mut ring, &mut sizes)
        };
        let live_objects = ring.iter().filter(|b| b.capacity() > 0).count() as f64;
        let live_bytes = ring.iter().map(|b| b.capacity() as f64).sum();
        held.truth.push(SiteTotals { alloc_objects, alloc_bytes, live_objects, live_bytes });
        held.blocks.push(ring);
    }
    held
}

macro_rules! fixed_site {
    ($name:ident) => {
        #[inline(never)]
        fn $name(allocs: usize, ring: &mut [Vec<u8>], sizes: &mut [usize]) -> (f64, f64) {
            let size = sizes[0];
            for i in 0..allocs {
                ring[i % ring.len()] = block(size);
            }
            (allocs as f64, (allocs * size) as f64)
        }
    };
}
fixed_site!(site_32b);
fixed_site!(site_256b);
fixed_site!(site_4kib);
fixed_site!(site_64kib);
fixed_site!(site_1mib);

#[inline(never)]
fn site_mixed(allocs: usize, ring: &mut [Vec<u8>], _sizes: &mut [usize]) -> (f64, f64) {
    let (lo, hi) = (16f64.ln(), 65536f64.ln());
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut bytes = 0f64;
    for i in 0..allocs {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let u = (rng >> 11) as f64 / (1u64 << 53) as f64;
        let size = (lo + u * (hi - lo)).exp() as usize;
        bytes += size as f64;
        ring[i % ring.len()] = block(size);
    }
    (allocs as f64, bytes)
}

#[inline(always)]
fn block(size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size);
    v.push(1u8);
    std::hint::black_box(v)
}

/// Sums a heapprof (or Go-style) heap profile per site: each sample goes to the first
/// site function found from the leaf end of its stack; samples of no site are left out.
pub fn sites_in_profile(p: &Profile) -> Vec<SiteTotals> {
    let str_of = |i: i64| p.string_table.get(i as usize).map(String::as_str).unwrap_or("");
    let index = |name: &str| p.sample_type.iter().position(|t| str_of(t.r#type) == name);
    let cols = [index("alloc_objects"), index("alloc_space"), index("inuse_objects"), index("inuse_space")];
    let functions: std::collections::HashMap<u64, &str> =
        p.function.iter().map(|f| (f.id, str_of(f.name))).collect();
    let locations: std::collections::HashMap<u64, Option<usize>> = p
        .location
        .iter()
        .map(|l| {
            let site = l
                .line
                .iter()
                .find_map(|line| site_of(functions.get(&line.function_id).copied().unwrap_or("")));
            (l.id, site)
        })
        .collect();
    let mut out = vec![SiteTotals::default(); SITES.len()];
    for s in &p.sample {
        let Some(site) = s.location_id.iter().find_map(|id| locations.get(id).copied().flatten()) else {
            continue;
        };
        let v = |c: Option<usize>| c.and_then(|c| s.value.get(c)).copied().unwrap_or(0) as f64;
        let t = &mut out[site];
        t.alloc_objects += v(cols[0]);
        t.alloc_bytes += v(cols[1]);
        t.live_objects += v(cols[2]);
        t.live_bytes += v(cols[3]);
    }
    out
}

/// Which site a function name is, if any (`…accuracy::site_32b`, with or without a hash).
pub fn site_of(function: &str) -> Option<usize> {
    SITES.iter().position(|s| {
        function
            .split("::")
            .any(|part| part == s.name || part.strip_prefix(s.name).is_some_and(|r| r.starts_with('<')))
    })
}

/// Reads the `cum` column of `jeprof --text --show_bytes` per site: the bytes of all
/// samples whose stack holds the site's function.
pub fn sites_in_jeprof_text(text: &str) -> Vec<f64> {
    let mut out = vec![0f64; SITES.len()];
    for line in text.lines() {
        // flat flat% sum% cum cum% name…
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() < 6 || !cols[1].ends_with('%') || !cols[4].ends_with('%') {
            continue;
        }
        let name = cols[5..].join(" ");
        let Some(site) = site_of(name.split_whitespace().next().unwrap_or("")) else { continue };
        if let Ok(cum) = cols[3].parse::<f64>() {
            // The same function may show on several rows (e.g. with and without a
            // hash); they are the same frames, so keep the largest.
            out[site] = out[site].max(cum);
        }
    }
    out
}

/// Relative error of `estimate` against `truth`, in percent.
pub fn error_percent(estimate: f64, truth: f64) -> f64 {
    if truth == 0.0 {
        if estimate == 0.0 { 0.0 } else { f64::INFINITY }
    } else {
        (estimate / truth - 1.0) * 100.0
    }
}

/// Mean, standard deviation, minimum and maximum of a list of errors.
pub fn summarize(errors: &[f64]) -> (f64, f64, f64, f64) {
    let n = errors.len().max(1) as f64;
    let mean = errors.iter().sum::<f64>() / n;
    let var = errors.iter().map(|e| (e - mean) * (e - mean)).sum::<f64>() / (n - 1.0).max(1.0);
    let (lo, hi) = errors.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    (mean, var.sqrt(), lo, hi)
}

/// One line of per-site figures, as the accuracy workload binaries print them:
/// `site=NAME alloc_objects=… alloc_bytes=… live_objects=… live_bytes=…`.
pub fn format_sites(kind: &str, totals: &[SiteTotals]) -> String {
    let mut s = String::new();
    for (site, t) in SITES.iter().zip(totals) {
        s.push_str(&format!(
            "{kind} site={} alloc_objects={} alloc_bytes={} live_objects={} live_bytes={}\n",
            site.name, t.alloc_objects, t.alloc_bytes, t.live_objects, t.live_bytes
        ));
    }
    s
}

/// Parses what [`format_sites`] printed, for `kind`.
pub fn parse_sites(kind: &str, text: &str) -> Vec<SiteTotals> {
    let mut out = vec![SiteTotals::default(); SITES.len()];
    for line in text.lines().filter(|l| l.split_whitespace().next() == Some(kind)) {
        let get = |key: &str| {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
                .map(str::to_owned)
        };
        let Some(site) = get("site").and_then(|n| SITES.iter().position(|s| s.name == n)) else { continue };
        let num = |key: &str| get(key).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        out[site] = SiteTotals {
            alloc_objects: num("alloc_objects"),
            alloc_bytes: num("alloc_bytes"),
            live_objects: num("live_objects"),
            live_bytes: num("live_bytes"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_names_match_with_and_without_hash() {
        assert_eq!(site_of("heapprof_bench::accuracy::site_32b"), Some(0));
        assert_eq!(site_of("heapprof_bench::accuracy::site_32b::h0123456789abcdef"), Some(0));
        assert_eq!(site_of("heapprof_bench::accuracy::site_1mib"), Some(4));
        assert_eq!(site_of("heapprof_bench::accuracy::site_mixedup"), None);
        assert_eq!(site_of("alloc::raw_vec::finish_grow"), None);
    }

    #[test]
    fn jeprof_text_cum_column_per_site() {
        let text = "Total: 3145728 B\n\
             0   0.0%   0.0%  1048576  33.3% heapprof_bench::accuracy::site_1mib\n\
             2097152  66.7%  66.7%  2097152  66.7% je_prof_backtrace\n\
             0   0.0%  66.7%  65536   2.1% heapprof_bench::accuracy::site_64kib::h0011223344556677\n";
        let s = sites_in_jeprof_text(text);
        assert_eq!(s[4], 1048576.0);
        assert_eq!(s[3], 65536.0);
        assert_eq!(s[0], 0.0);
    }

    #[test]
    fn printed_sites_parse_back() {
        let t = vec![
            SiteTotals { alloc_objects: 3.0, alloc_bytes: 96.0, live_objects: 1.0, live_bytes: 32.0 };
            6
        ];
        assert_eq!(parse_sites("truth", &format_sites("truth", &t)), t);
        assert_eq!(summarize(&[1.0, -1.0, 3.0]).0, 1.0);
        assert_eq!(error_percent(110.0, 100.0).round(), 10.0);
    }
}
