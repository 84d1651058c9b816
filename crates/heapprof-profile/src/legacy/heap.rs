//! `heap profile: …` text (Go `?debug=1`, gperftools, heapz, growthz, fragmentationz)
//! and jemalloc `heap_v2/<rate>` dumps.

use std::collections::{BTreeMap, HashMap};

use super::scan::{Cursor, find, hex_addresses, parse_i64};
use super::{LocationTable, Raw, RawFunction, RawSample, legacy_error, maps, snippet};
use crate::Error;

/// How the values of a record were sampled, which decides their unbiasing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Sampling {
    /// Every allocation recorded (or unknown): values as written.
    Exact,
    /// Poisson sampling at `period` bytes (`heap`, `heap_v2`, `heapz_v2`).
    V2,
    /// jemalloc's Poisson sampling at `period` bytes, one record per thread.
    Jemalloc,
}

#[derive(Debug)]
struct Header {
    sampling: Sampling,
    period: i64,
    has_alloc: bool,
}

/// pprof's `scaleHeapSample`: divides a (count, bytes) pair by the probability that an
/// allocation of its average size was sampled at `rate`, `1 - exp(-avg/rate)`.
pub(super) fn scale_heap_sample(count: i64, size: i64, rate: i64) -> (i64, i64) {
    if count == 0 || size == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        // Every allocation was recorded, or the rate is unknown.
        return (count, size);
    }
    let scale = sampling_scale(size as f64 / count as f64, rate);
    ((count as f64 * scale) as i64, (size as f64 * scale) as i64)
}

/// `1 / (1 - exp(-avg/rate))`.
pub(super) fn sampling_scale(avg: f64, rate: i64) -> f64 {
    1.0 / (1.0 - (-avg / rate as f64).exp())
}

/// Whether `line` is jemalloc's header, `heap_v2/<rate>`.
pub(super) fn is_jemalloc_header(line: &str) -> bool {
    jemalloc_period(line).is_some()
}

/// The digits of a `^heap_v2/*(\d+)$` line.
fn jemalloc_period(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("heap_v2")?.trim_start_matches('/');
    (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

/// `(\d+): *(\d+) *\[ *(\d+): *(\d+) *\]` after `heap profile: *`.
fn header_counts(c: &mut Cursor<'_>) -> Option<()> {
    c.spaces();
    c.digits()?;
    c.lit(":").then_some(())?;
    c.spaces();
    c.digits()?;
    c.spaces();
    c.lit("[").then_some(())?;
    c.spaces();
    c.digits()?;
    c.lit(":").then_some(())?;
    c.spaces();
    c.digits()?;
    c.spaces();
    c.lit("]").then_some(())
}

/// Reads the first line; `Ok(None)` when it is not a heap profile header.
fn parse_header(line: &str) -> Result<Option<Header>, Error> {
    let starts = |b: u8| b == b'h';
    // pprof's heapHeaderRE: `heap profile: *(\d+): *(\d+) *\[ *(\d+): *(\d+) *\] *@ *(heap[_a-z0-9]*)/?(\d*)`
    let heap = find(
        line,
        starts,
        |_| false,
        |mut c| {
            c.lit("heap profile:").then_some(())?;
            let counts_at = c.pos;
            header_counts(&mut c)?;
            let counts = &line[counts_at..c.pos];
            c.spaces();
            c.lit("@").then_some(())?;
            c.spaces();
            let scheme_at = c.pos;
            c.lit("heap").then_some(())?;
            c.take_while(|b| b == b'_' || b.is_ascii_lowercase() || b.is_ascii_digit());
            let scheme = &line[scheme_at..c.pos];
            c.lit("/");
            let period = c.take_while(|b| b.is_ascii_digit());
            Some((counts, scheme, period))
        },
    );
    if let Some((counts, scheme, period)) = heap {
        let period = if period.is_empty() {
            0
        } else {
            parse_i64(period).ok_or_else(|| {
                legacy_error(1, format!("heap profile period {period} does not fit in 64 bits"))
            })?
        };
        let has_alloc = header_has_alloc(counts);
        let (sampling, period) = match scheme {
            "heapz_v2" | "heap_v2" => (Sampling::V2, period),
            "heapprofile" => (Sampling::Exact, 1),
            // Go writes twice its MemProfileRate after `heap/`.
            "heap" => (Sampling::V2, period / 2),
            other => {
                return Err(legacy_error(
                    1,
                    format!(
                        "unknown heap profile sampling scheme {other:?} \
                         (expected heap, heap_v2, heapz_v2 or heapprofile)"
                    ),
                ));
            }
        };
        return Ok(Some(Header { sampling, period, has_alloc }));
    }
    // pprof's growthHeaderRE and fragmentationHeaderRE: the same counts, then
    // `\] @ growthz?` or `\] @ fragmentationz?`; every allocation is recorded.
    let other = find(
        line,
        starts,
        |_| false,
        |mut c| {
            c.lit("heap profile:").then_some(())?;
            header_counts(&mut c)?;
            (c.lit(" @ growth") || c.lit(" @ fragmentation")).then_some(())
        },
    );
    if other.is_some() {
        return Ok(Some(Header { sampling: Sampling::Exact, period: 1, has_alloc: false }));
    }
    if let Some(period) = jemalloc_period(line) {
        let period = parse_i64(period).ok_or_else(|| {
            legacy_error(1, format!("jemalloc heap period {period} does not fit in 64 bits"))
        })?;
        return Ok(Some(Header { sampling: Sampling::Jemalloc, period, has_alloc: false }));
    }
    Ok(None)
}

/// pprof keeps alloc columns only when they differ from the in-use ones (as strings)
/// and are not zero.
fn header_has_alloc(counts: &str) -> bool {
    let nums: Vec<&str> = counts.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).collect();
    match nums.as_slice() {
        [inuse_n, inuse_b, alloc_n, alloc_b] => {
            (alloc_n != inuse_n && *alloc_n != "0") || (alloc_b != inuse_b && *alloc_b != "0")
        }
        _ => false,
    }
}

/// Parses a heap profile, or `Ok(None)` when the first line is not a heap header.
pub(super) fn parse(text: &str) -> Result<Option<Raw>, Error> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, first)) = lines.next() else {
        return Ok(None);
    };
    let Some(header) = parse_header(first)? else {
        return Ok(None);
    };
    let types: &[(&str, &str)] = if header.has_alloc {
        // Alloc before inuse, so that pprof's default (the last type) is inuse_space.
        &[
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes"),
        ]
    } else {
        &[("objects", "count"), ("space", "bytes")]
    };
    let mut p = HeapParser {
        raw: Raw {
            sample_types: types.iter().map(|&(t, u)| (t.to_owned(), u.to_owned())).collect(),
            period_type: Some(("space".into(), "bytes".into())),
            period: header.period,
            ..Raw::default()
        },
        header,
        locs: LocationTable::default(),
        symbols: Symbols::default(),
        stack: Vec::new(),
        threads: BTreeMap::new(),
    };
    for (n, line) in &mut lines {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            p.symbols.comment(t, &mut p.raw);
            continue;
        }
        p.symbols.end_block();
        if super::is_memory_map_sentinel(t) {
            break;
        }
        if p.header.sampling == Sampling::Jemalloc {
            p.jemalloc_line(n, t)?;
        } else {
            p.heap_line(n, t)?;
        }
    }
    p.symbols.end_block();
    // pprof emits a jemalloc stack only when the next one starts, which drops the
    // last stack of the file; we keep it.
    p.flush_jemalloc();
    let mut raw = p.raw;
    let symbolized = p.symbols.attach(&mut raw);
    raw.mappings = maps::parse(lines.map(|(_, l)| l));
    maps::massage(&mut raw.mappings);
    raw.renumber();
    maps::assign(&mut raw);
    if symbolized {
        maps::mark_symbolized(&mut raw);
    }
    Ok(Some(raw))
}

/// State while reading the records of a heap profile.
#[derive(Debug)]
struct HeapParser {
    header: Header,
    raw: Raw,
    locs: LocationTable,
    symbols: Symbols,
    /// jemalloc: the stack of the record being read.
    stack: Vec<usize>,
    /// jemalloc: its per-thread values and block size, by thread id as text
    /// (pprof sorts them as strings).
    threads: BTreeMap<String, (Vec<i64>, i64)>,
}

/// The stack part of a record: pprof's `[ x0-9a-f]*`.
fn is_stack_byte(b: u8) -> bool {
    matches!(b, b' ' | b'x' | b'0'..=b'9' | b'a'..=b'f')
}

impl HeapParser {
    /// One `count: bytes [count: bytes] @ addrs` record.
    fn heap_line(&mut self, n: usize, line: &str) -> Result<(), Error> {
        // pprof's heapSampleRE: `(-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *] @([ x0-9a-f]*)`
        let row = find(
            line,
            |b| b == b'-' || b.is_ascii_digit(),
            |b| b.is_ascii_digit(),
            |mut c| {
                let inuse_n = c.signed_digits()?;
                c.lit(":").then_some(())?;
                c.spaces();
                let inuse_b = c.signed_digits()?;
                c.spaces();
                c.lit("[").then_some(())?;
                c.spaces();
                let alloc_n = c.digits()?;
                c.lit(":").then_some(())?;
                c.spaces();
                let alloc_b = c.digits()?;
                c.spaces();
                c.lit("] @").then_some(())?;
                let stack = c.take_while(is_stack_byte);
                Some([inuse_n, inuse_b, alloc_n, alloc_b, stack])
            },
        );
        let Some([inuse_n, inuse_b, alloc_n, alloc_b, stack]) = row else {
            return Err(legacy_error(
                n,
                format!(
                    "not a heap profile record: {} (expected \
                     `<objects>: <bytes> [<objects>: <bytes>] @ <addresses>`)",
                    snippet(line)
                ),
            ));
        };
        let mut values = Vec::with_capacity(4);
        let mut block_size = 0;
        if self.header.has_alloc {
            self.add_values(n, [alloc_n, alloc_b], "allocation", &mut values, &mut block_size)?;
        }
        self.add_values(n, [inuse_n, inuse_b], "in-use", &mut values, &mut block_size)?;
        let locations = self.stack_locations(n, stack)?;
        self.raw.samples.push(RawSample {
            locations,
            values,
            labels: Vec::new(),
            num_labels: vec![("bytes".into(), block_size)],
        });
        Ok(())
    }

    /// One line of a jemalloc dump: a `t<N>: …` thread record and/or an `@ addrs` stack.
    fn jemalloc_line(&mut self, n: usize, line: &str) -> Result<(), Error> {
        // pprof's jemallocThreadRE: `t(\d+): (-?\d+): *(-?\d+) *\[ *(\d+): *(\d+) *\]`
        let thread = find(
            line,
            |b| b == b't',
            |_| false,
            |mut c| {
                c.lit("t").then_some(())?;
                let tid = c.digits()?;
                c.lit(": ").then_some(())?;
                let count = c.signed_digits()?;
                c.lit(":").then_some(())?;
                c.spaces();
                let size = c.signed_digits()?;
                c.spaces();
                c.lit("[").then_some(())?;
                c.spaces();
                c.digits()?;
                c.lit(":").then_some(())?;
                c.spaces();
                c.digits()?;
                c.spaces();
                c.lit("]").then_some([tid, count, size])
            },
        );
        if let Some([tid, count, size]) = thread {
            if self.stack.is_empty() {
                // Totals before the first stack: pprof skips the whole line.
                return Ok(());
            }
            let mut values = Vec::with_capacity(2);
            let mut block_size = 0;
            self.add_values(n, [count, size], "in-use", &mut values, &mut block_size)?;
            self.threads.insert(tid.to_owned(), (values, block_size));
        }
        // pprof's jemallocBacktraceRE: `@([ x0-9a-f]*)`
        if let Some(at) = line.find('@') {
            self.flush_jemalloc();
            let stack = Cursor::new(line, at + 1).take_while(is_stack_byte);
            self.stack = self.stack_locations(n, stack)?;
        }
        Ok(())
    }

    /// Emits the pending jemalloc stack, one sample per thread, if it has both.
    fn flush_jemalloc(&mut self) {
        if self.stack.is_empty() || self.threads.is_empty() {
            return;
        }
        for (tid, (values, block_size)) in std::mem::take(&mut self.threads) {
            self.raw.samples.push(RawSample {
                locations: self.stack.clone(),
                values,
                labels: vec![("thread".into(), tid)],
                num_labels: vec![("bytes".into(), block_size)],
            });
        }
        self.stack.clear();
    }

    /// Parses one (count, bytes) pair, records the block size and appends the pair,
    /// unbiased for the profile's sampling.
    fn add_values(
        &self,
        n: usize,
        [count, size]: [&str; 2],
        what: &str,
        values: &mut Vec<i64>,
        block_size: &mut i64,
    ) -> Result<(), Error> {
        let num = |s: &str| {
            parse_i64(s).ok_or_else(|| legacy_error(n, format!("{what} value {s} does not fit in 64 bits")))
        };
        let (mut count, mut size) = (num(count)?, num(size)?);
        if count == 0 && size != 0 {
            return Err(legacy_error(n, format!("{what} count is 0 but {what} bytes is {size}")));
        }
        if count != 0 {
            *block_size = size.checked_div(count).unwrap_or(0);
            if self.header.sampling != Sampling::Exact {
                (count, size) = scale_heap_sample(count, size, self.header.period);
            }
        }
        values.extend([count, size]);
        Ok(())
    }

    /// Locations for a stack of return addresses, each moved back onto its call.
    fn stack_locations(&mut self, n: usize, stack: &str) -> Result<Vec<usize>, Error> {
        let addrs = hex_addresses(stack)
            .map_err(|a| legacy_error(n, format!("address {a} does not fit in 64 bits")))?;
        Ok(addrs.into_iter().map(|a| self.locs.get(&mut self.raw, a.wrapping_sub(1))).collect())
    }
}

/// Go's `?debug=1` symbol comments: `#\t0xPC\tfunc+0xOFF\tfile:line`, one per frame
/// (several for one PC when calls were inlined, innermost first), after each record.
#[derive(Debug, Default)]
struct Symbols {
    /// The comment lines of the current record: (pc, function index, line).
    block: Vec<(u64, usize, i64)>,
    by_pc: HashMap<u64, Vec<(usize, i64)>>,
    /// Function index by name, then file.
    functions: HashMap<String, Vec<(String, usize)>>,
}

impl Symbols {
    /// Takes a blank or `#` line.
    fn comment(&mut self, line: &str, raw: &mut Raw) {
        match parse_symbol(line) {
            Some((pc, name, file, line)) => {
                let known = self
                    .functions
                    .get(name)
                    .and_then(|files| files.iter().find(|(f, _)| f == file))
                    .map(|&(_, f)| f);
                let f = known.unwrap_or_else(|| {
                    raw.functions.push(RawFunction {
                        name: name.to_owned(),
                        system_name: name.to_owned(),
                        filename: file.to_owned(),
                    });
                    let f = raw.functions.len() - 1;
                    let files = self.functions.entry(name.to_owned()).or_default();
                    files.push((file.to_owned(), f));
                    f
                });
                self.block.push((pc, f, line));
            }
            None => self.end_block(),
        }
    }

    /// Ends a record's comment block: the first block naming a PC defines its lines.
    fn end_block(&mut self) {
        let mut i = 0;
        while i < self.block.len() {
            let pc = self.block[i].0;
            let mut j = i;
            while j < self.block.len() && self.block[j].0 == pc {
                j += 1;
            }
            if !self.by_pc.contains_key(&pc) {
                let lines = self.block[i..j].iter().map(|&(_, f, l)| (f, l)).collect();
                self.by_pc.insert(pc, lines);
            }
            i = j;
        }
        self.block.clear();
    }

    /// Gives each location the lines named for its address; whether any were.
    fn attach(&self, raw: &mut Raw) -> bool {
        let mut any = false;
        for l in &mut raw.locations {
            if let Some(lines) = self.by_pc.get(&l.address) {
                l.lines.clone_from(lines);
                any = true;
            }
        }
        any
    }
}

/// `#\t0xPC\tname+0xOFF\tfile:line` (tabs may repeat) → (pc, name, file, line).
fn parse_symbol(line: &str) -> Option<(u64, &str, &str, i64)> {
    let mut fields = line.strip_prefix('#')?.split('\t').filter(|f| !f.is_empty());
    let pc = fields.next()?.trim().strip_prefix("0x")?;
    let pc = u64::from_str_radix(pc, 16).ok()?;
    let name = fields.next()?.trim();
    let name = match name.rsplit_once("+0x") {
        Some((n, off)) if !off.is_empty() && off.bytes().all(|b| b.is_ascii_hexdigit()) => n,
        _ => name,
    };
    let (file, line) = match fields.next().map(str::trim) {
        Some(fl) => {
            fl.rsplit_once(':').and_then(|(f, l)| Some((f, l.parse::<i64>().ok()?))).unwrap_or((fl, 0))
        }
        None => ("", 0),
    };
    (!name.is_empty()).then_some((pc, name, file, line))
}
