//! A real program for the peers to profile: popular crates doing ordinary work.
//! `json_work` writes a large JSON document (an array of user records), parses it
//! with serde_json into a `Value` tree, indexes it into `BTreeMap`s and serializes a
//! summary back: the allocation pattern of a typical data-processing service.

use std::collections::BTreeMap;
use std::fmt::Write;

/// The name of the function whose stacks hold all the work (for filters).
pub const WORK_FUNCTION: &str = "json_work";

/// Runs the work over `records` records; returns the summary's length and the
/// document's, so nothing is optimized away.
#[inline(never)]
pub fn json_work(records: usize) -> (usize, usize) {
    let mut doc = String::from("[");
    let cities = ["Lisbon", "Oslo", "Quito", "Hanoi", "Accra", "Perth", "Lima", "Riga"];
    for i in 0..records {
        if i > 0 {
            doc.push(',');
        }
        let _ = write!(
            doc,
            r#"{{"id":{i},"name":"user-{i:07}","email":"user{i}@example.invalid","score":{},"tags":["t{}","t{}","t{}"],"address":{{"city":"{}","zip":"{:05}"}},"active":{}}}"#,
            (i * 7919 % 1000) as f64 / 10.0,
            i % 13,
            i % 31,
            i % 97,
            cities[i % cities.len()],
            i * 31 % 100_000,
            i % 3 == 0,
        );
    }
    doc.push(']');
    let value: serde_json::Value = match serde_json::from_str(&doc) {
        Ok(v) => v,
        Err(_) => return (0, doc.len()),
    };
    let mut by_city: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_tag: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for user in value.as_array().into_iter().flatten() {
        let id = user["id"].as_u64().unwrap_or(0);
        let city = user["address"]["city"].as_str().unwrap_or("").to_owned();
        let e = by_city.entry(city).or_default();
        e.0 += 1;
        e.1 += user["score"].as_f64().unwrap_or(0.0);
        by_name.insert(user["name"].as_str().unwrap_or("").to_owned(), id);
        for tag in user["tags"].as_array().into_iter().flatten() {
            by_tag.entry(tag.as_str().unwrap_or("").to_owned()).or_default().push(id);
        }
    }
    let summary = serde_json::json!({
        "cities": by_city.iter().map(|(c, (n, s))| (c.clone(), serde_json::json!({"users": n, "mean_score": s / *n as f64}))).collect::<serde_json::Map<_, _>>(),
        "users": by_name.len(),
        "tags": by_tag.iter().map(|(t, ids)| (t.clone(), serde_json::json!(ids.len()))).collect::<serde_json::Map<_, _>>(),
    });
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    (text.len(), doc.len())
}

/// `--records N` (default 200,000) of the real-program binaries.
pub fn records_arg(program: &'static str) -> usize {
    crate::runner::Flags::from_env(program, "[--records N]", &["--records"], &[]).number("--records", 200_000)
}

/// Runs `json_work`, timed; returns the line the real-program binaries print.
pub fn run_timed(records: usize) -> String {
    let start = std::time::Instant::now();
    let (summary, doc) = std::hint::black_box(json_work(std::hint::black_box(records)));
    let seconds = start.elapsed().as_secs_f64();
    format!(
        "records={records} document_bytes={doc} summary_bytes={summary} seconds={seconds:.6} peak_rss_kib={}",
        crate::peak_rss_kib().unwrap_or(0)
    )
}

/// The allocated objects and bytes of the samples whose stack holds [`WORK_FUNCTION`]
/// (scaled estimates; exact at rate 1).
pub fn work_totals(p: &heapprof::pprof::Profile) -> (i64, i64) {
    let str_of = |i: i64| p.string_table.get(i as usize).map(String::as_str).unwrap_or("");
    let index = |name: &str| p.sample_type.iter().position(|t| str_of(t.r#type) == name);
    let (Some(objects), Some(space)) = (index("alloc_objects"), index("alloc_space")) else { return (0, 0) };
    let work: std::collections::HashSet<u64> =
        p.function.iter().filter(|f| is_work(str_of(f.name))).map(|f| f.id).collect();
    let locations: std::collections::HashSet<u64> = p
        .location
        .iter()
        .filter(|l| l.line.iter().any(|line| work.contains(&line.function_id)))
        .map(|l| l.id)
        .collect();
    p.sample
        .iter()
        .filter(|s| s.location_id.iter().any(|id| locations.contains(id)))
        .fold((0, 0), |(n, b), s| (n + s.value[objects], b + s.value[space]))
}

/// Whether a demangled function name is [`WORK_FUNCTION`] (with or without a hash).
pub fn is_work(name: &str) -> bool {
    name.split("::").any(|part| part == WORK_FUNCTION)
}

/// Allocation calls and bytes in a heaptrack data file (its decompressed text:
/// `s` strings, `i` instruction pointers with their functions, `t` trace nodes, `a`
/// allocation infos, `+` allocations): the whole process's, and those whose stack
/// holds [`WORK_FUNCTION`]. A `realloc` is one allocation of the new size, as in heapprof.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeaptrackTotals {
    /// Allocation calls, whole process.
    pub calls: u64,
    /// Bytes allocated, whole process.
    pub bytes: u64,
    /// Allocation calls whose stack holds the work function.
    pub work_calls: u64,
    /// Bytes of those calls.
    pub work_bytes: u64,
}

/// Reads a decompressed heaptrack data file (see [`HeaptrackTotals`]).
pub fn heaptrack_totals(text: &str) -> HeaptrackTotals {
    let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or(0);
    let mut strings: Vec<&str> = vec![""]; // 1-based
    let mut ip_is_work: Vec<bool> = vec![false]; // 1-based
    let mut traces: Vec<(usize, usize)> = vec![(0, 0)]; // 1-based: (ip, parent)
    let mut trace_is_work: Vec<Option<bool>> = vec![Some(false)];
    let mut infos: Vec<(u64, usize)> = Vec::new(); // 0-based: (size, trace)
    let mut t = HeaptrackTotals::default();
    for line in text.lines() {
        let mut f = line.split(' ');
        match f.next() {
            // `s <len> <string>`: the string may hold spaces.
            Some("s") => strings.push(line.splitn(3, ' ').nth(2).unwrap_or("")),
            // `i <ip> <module> [<function> <file> <line>]…`: inlined frames follow.
            Some("i") => {
                let rest: Vec<&str> = f.skip(2).collect();
                let work = rest.chunks(3).any(|c| {
                    let idx = hex(c[0]) as usize;
                    idx > 0 && strings.get(idx).is_some_and(|n| is_work(n))
                });
                ip_is_work.push(work);
            }
            Some("t") => {
                let ip = hex(f.next().unwrap_or("0")) as usize;
                let parent = hex(f.next().unwrap_or("0")) as usize;
                traces.push((ip, parent));
                trace_is_work.push(None);
            }
            Some("a") => {
                let size = hex(f.next().unwrap_or("0"));
                let trace = hex(f.next().unwrap_or("0")) as usize;
                infos.push((size, trace));
            }
            Some("+") => {
                let Some(&(size, trace)) = infos.get(hex(f.next().unwrap_or("0")) as usize) else { continue };
                t.calls += 1;
                t.bytes += size;
                if trace_holds_work(trace, &traces, &ip_is_work, &mut trace_is_work) {
                    t.work_calls += 1;
                    t.work_bytes += size;
                }
            }
            _ => {}
        }
    }
    t
}

fn trace_holds_work(
    trace: usize,
    traces: &[(usize, usize)],
    ips: &[bool],
    memo: &mut [Option<bool>],
) -> bool {
    // Walk up to the first node whose answer is known, then fill in the path.
    let mut path = Vec::new();
    let mut node = trace;
    let known = loop {
        match memo.get(node).copied().flatten() {
            Some(k) => break k,
            None if node < traces.len() => {
                let (ip, parent) = traces[node];
                if ips.get(ip).copied().unwrap_or(false) {
                    memo[node] = Some(true);
                    break true;
                }
                path.push(node);
                node = parent;
            }
            None => break false,
        }
    };
    for n in path {
        memo[n] = Some(known);
    }
    known
}
