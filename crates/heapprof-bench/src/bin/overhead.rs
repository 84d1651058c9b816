//! Allocation overhead: the same workload on each bare allocator and under each
//! profiler, runs interleaved (every variant once per round, in a shuffled order) so
//! that machine noise spreads over all variants alike. Prints a Markdown table of medians, ratios to each variant's
//! own baseline (the allocator it runs over) and the workload's peak RSS.
//!
//! The ratio is paired: each round divides a variant's time by its baseline's time in
//! the same round (seconds apart), and the table gives the median of those ratios and
//! their spread, with a 95% interval for that median (from 8 rounds up; see
//! `runner::median_interval`). On a shared machine whose speed drifts between rounds,
//! this is far steadier than a ratio of medians taken over the whole run. The ratio of the fastest
//! runs is given too: interference from other jobs only ever adds time, so each
//! variant's fastest run is the one least disturbed.
//!
//! ```text
//! cargo build --release -p heapprof-bench
//! target/release/overhead [--set main|slow] [--sizes mixed|small|large] [--threads 1,2]
//!                         [--runs 5] [--allocs 2000000] [--only 'PREFIX;PREFIX'] [--smoke]
//! ```
//!
//! `--only` keeps the variants whose names start with one of the given prefixes (names
//! hold commas, so prefixes are separated by `;`; the
//! first variant, the glibc baseline, is always kept), for a focused re-measurement.
//!
//! `--set main` (the default) has heapprof over glibc, mimalloc and jemalloc, jemalloc's
//! profiler, heaptrack and dhat-rs; `--set slow` has the peers that need a reduced size
//! (gperftools' heap profiler, valgrind's massif) beside heapprof, heaptrack and dhat-rs.

use heapprof_bench::runner::{Flags, field, median, median_interval, paired_ratios, round_order, which};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's libjemalloc2, built with profiling support.
const JEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
/// Debian's libgoogle-perftools4: tcmalloc with the heap profiler (`HEAPPROFILE`).
const TCMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4";

struct Variant {
    name: &'static str,
    binary: &'static str,
    env: Vec<(&'static str, String)>,
    /// A command that wraps the binary (e.g. heaptrack), if any.
    wrapper: Option<Vec<String>>,
    /// The name of the variant this one is a ratio to (the allocator it runs over).
    baseline: &'static str,
}

struct Measured {
    seconds: Vec<f64>,
    rss_kib: Vec<f64>,
    last_line: String,
}

fn main() {
    let flags = Flags::from_env(
        "overhead",
        "[--set main|slow] [--sizes mixed|small|large] [--threads 1,2] [--runs N] [--allocs N] [--only 'PREFIX;PREFIX'] [--smoke]",
        &["--set", "--sizes", "--threads", "--runs", "--allocs", "--only"],
        &["--smoke"],
    );
    let smoke = flags.has("--smoke");
    let set = flags.text("--set").unwrap_or("main");
    let sizes = flags.text("--sizes").unwrap_or("mixed");
    if heapprof_bench::SizeMix::parse(sizes).is_none() {
        fail(&format!("--sizes: unknown mix {sizes}"));
    }
    let threads = flags.numbers("--threads", "1,2");
    let runs = flags.number("--runs", if smoke { 1 } else { 5 });
    let allocs = flags.number("--allocs", if smoke { 100_000 } else { 2_000_000 });
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| fail("cannot locate the workload binaries"));
    let scratch = tempdir();

    let mut variants = match set {
        "main" => main_set(smoke, &scratch),
        "slow" => slow_set(&scratch),
        _ => fail(&format!("--set: unknown set {set}")),
    };
    if let Some(only) = flags.text("--only") {
        let prefixes: Vec<&str> = only.split(';').collect();
        let chosen = |v: &Variant| prefixes.iter().any(|p| v.name.starts_with(p));
        // Keep the chosen variants and the baselines they are ratios to.
        let baselines: Vec<&'static str> =
            variants.iter().filter(|v| chosen(v)).map(|v| v.baseline).collect();
        let mut first = true;
        variants.retain(|v| std::mem::take(&mut first) || chosen(v) || baselines.contains(&v.name));
    }

    println!(
        "| workload | variant | median s | ratio to its baseline (median of rounds) | 95% interval of that median | spread of ratio (min–max) | ratio of fastest runs | ratio to glibc | peak RSS (median) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut notes = Vec::new();
    for &t in &threads {
        let workload = format!("{sizes}, {t} thread(s), {allocs} allocs/thread");
        let mut results: Vec<Measured> = variants
            .iter()
            .map(|_| Measured { seconds: vec![], rss_kib: vec![], last_line: String::new() })
            .collect();
        for round in 0..runs {
            for i in round_order(variants.len(), round) {
                let (v, r) = (&variants[i], &mut results[i]);
                let line = run(&dir, v, allocs, t, sizes, &scratch);
                r.seconds.push(field(&line, "seconds").parse().unwrap_or(f64::NAN));
                r.rss_kib.push(field(&line, "peak_rss_kib").parse().unwrap_or(f64::NAN));
                r.last_line = line;
            }
        }
        let index = |name: &str| variants.iter().position(|v| v.name == name);
        for (v, r) in variants.iter().zip(&results) {
            let base = &results[index(v.baseline).unwrap_or(0)].seconds;
            let m = median(&r.seconds);
            let ratios = paired_ratios(&r.seconds, base);
            let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            let over =
                if v.baseline == v.name { "(baseline)".to_owned() } else { format!("over {}", v.baseline) };
            let interval = match median_interval(&ratios) {
                Some((l, h)) if v.baseline != v.name => format!("{l:.3}–{h:.3}"),
                _ => "–".to_owned(),
            };
            println!(
                "| {workload} | {} | {m:.3} | {:.3}× {over} | {interval} | {lo:.3}–{hi:.3} | {:.3}× | {:.3}× | {:.1} MiB |",
                v.name,
                median(&ratios),
                fastest(&r.seconds) / fastest(base),
                median(&paired_ratios(&r.seconds, &results[0].seconds)),
                median(&r.rss_kib) / 1024.0,
            );
        }
        if let (Some(r0), Some(r1)) = (index(RATE0), index(RATE1)) {
            let per_sample_ns =
                (median(&results[r1].seconds) - median(&results[r0].seconds)) * 1e9 / allocs as f64;
            let line = &results[r1].last_line;
            notes.push(format!(
                "- {workload}: one sample (stack capture + record) costs {per_sample_ns:.0} ns (rate 1 minus rate 0, \
                 per allocation); at rate 1 heapprof's metadata is {} bytes, {} per live sampled block",
                field(line, "profiler_bytes"),
                field(line, "profiler_bytes_per_live_sample"),
            ));
        }
        if let Some(d) = index(DEFAULT) {
            notes.push(format!(
                "- {workload}: at the default rate heapprof's metadata is {} bytes ({} stack records, {} dropped samples)",
                field(&results[d].last_line, "profiler_bytes"),
                field(&results[d].last_line, "stack_records"),
                field(&results[d].last_line, "dropped"),
            ));
        }
    }
    println!();
    for n in notes {
        println!("{n}");
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

const GLIBC: &str = "glibc (bare)";
/// Four thread-local counters and nothing else: the floor for any profiler that keeps
/// exact statistics.
const COUNTING: &str = "counting only (floor for exact stats)";
const RATE0: &str = "heapprof, rate 0 (stats only)";
const DEFAULT: &str = "heapprof, default rate (512 KiB)";
const RATE1: &str = "heapprof, rate 1 (every allocation)";
const TCMALLOC_BARE: &str = "tcmalloc (bare, LD_PRELOAD)";
const VALGRIND_NONE: &str = "valgrind --tool=none";

fn main_set(smoke: bool, scratch: &Path) -> Vec<Variant> {
    let mut v = vec![
        plain(GLIBC, "workload_bare", GLIBC),
        plain(COUNTING, "workload_counting", GLIBC),
        heapprof_at(RATE0, "workload_heapprof", "0", GLIBC),
        heapprof_at(DEFAULT, "workload_heapprof", "524288", GLIBC),
        heapprof_at("heapprof, 64 KiB", "workload_heapprof", "65536", GLIBC),
        heapprof_at(RATE1, "workload_heapprof", "1", GLIBC),
        plain("mimalloc (bare)", "workload_mimalloc", "mimalloc (bare)"),
        heapprof_at(
            "heapprof over mimalloc, default rate",
            "workload_heapprof_mimalloc",
            "524288",
            "mimalloc (bare)",
        ),
    ];
    // Over Debian's jemalloc, preloaded: heapprof (whose `System` is then jemalloc's
    // malloc) and jemalloc's own sampling profiler at the same mean rate (2^19 bytes),
    // each over jemalloc without profiling under the bare workload.
    if Path::new(JEMALLOC).is_file() {
        let je = "jemalloc (bare, LD_PRELOAD)";
        let preload = || ("LD_PRELOAD", JEMALLOC.to_owned());
        v.push(Variant { env: vec![preload()], ..plain(je, "workload_bare", je) });
        let mut over_jemalloc =
            heapprof_at("heapprof over jemalloc, default rate", "workload_heapprof", "524288", je);
        over_jemalloc.env.push(preload());
        v.push(over_jemalloc);
        v.push(Variant {
            env: vec![preload(), ("MALLOC_CONF", "prof:true,lg_prof_sample:19".to_owned())],
            ..plain("jemalloc prof:true, lg_prof_sample:19 (512 KiB)", "workload_bare", je)
        });
    } else {
        eprintln!("overhead: {JEMALLOC} not installed (apt-get install libjemalloc2): its rows are left out");
    }
    v.extend(heaptrack(scratch));
    // dhat-rs takes a global lock and a backtrace per allocation: in the smoke run it
    // is left out of the main set (the slow set has it at a small size).
    if !smoke {
        v.push(plain("dhat-rs (every allocation)", "workload_dhat", GLIBC));
    }
    v
}

fn slow_set(scratch: &Path) -> Vec<Variant> {
    let mut v = vec![
        plain(GLIBC, "workload_bare", GLIBC),
        heapprof_at(DEFAULT, "workload_heapprof", "524288", GLIBC),
        heapprof_at(RATE1, "workload_heapprof", "1", GLIBC),
    ];
    v.extend(heaptrack(scratch));
    v.push(plain("dhat-rs (every allocation)", "workload_dhat", GLIBC));
    if Path::new(TCMALLOC).is_file() {
        v.push(Variant {
            env: vec![("LD_PRELOAD", TCMALLOC.to_owned())],
            ..plain(TCMALLOC_BARE, "workload_bare", TCMALLOC_BARE)
        });
        v.push(Variant {
            env: vec![
                ("LD_PRELOAD", TCMALLOC.to_owned()),
                ("HEAPPROFILE", scratch.join("gperftools").display().to_string()),
            ],
            ..plain("gperftools HEAPPROFILE (every allocation)", "workload_bare", TCMALLOC_BARE)
        });
    } else {
        eprintln!(
            "overhead: {TCMALLOC} not installed (apt-get install libgoogle-perftools4): gperftools rows left out"
        );
    }
    match which("valgrind") {
        Some(vg) => {
            let vg = vg.display().to_string();
            v.push(Variant {
                wrapper: Some(vec![vg.clone(), "-q".into(), "--tool=none".into()]),
                ..plain(VALGRIND_NONE, "workload_bare", VALGRIND_NONE)
            });
            let out = format!("--massif-out-file={}", scratch.join("massif.out").display());
            v.push(Variant {
                wrapper: Some(vec![vg, "-q".into(), "--tool=massif".into(), out]),
                ..plain("valgrind massif (every allocation)", "workload_bare", GLIBC)
            });
        }
        None => eprintln!("overhead: valgrind not installed: massif rows left out"),
    }
    v
}

fn heaptrack(scratch: &Path) -> Option<Variant> {
    match which("heaptrack") {
        Some(h) => Some(Variant {
            wrapper: Some(vec![
                h.display().to_string(),
                "-o".into(),
                scratch.join("heaptrack").display().to_string(),
            ]),
            ..plain("heaptrack (every allocation)", "workload_bare", GLIBC)
        }),
        None => {
            eprintln!("overhead: heaptrack not installed: its row is left out");
            None
        }
    }
}

fn plain(name: &'static str, binary: &'static str, baseline: &'static str) -> Variant {
    Variant { name, binary, env: vec![], wrapper: None, baseline }
}

fn heapprof_at(name: &'static str, binary: &'static str, rate: &str, baseline: &'static str) -> Variant {
    Variant { env: vec![("HEAPPROF_RATE", rate.to_owned())], ..plain(name, binary, baseline) }
}

fn run(dir: &Path, v: &Variant, allocs: usize, threads: usize, sizes: &str, scratch: &Path) -> String {
    let binary = dir.join(v.binary);
    let mut cmd = match &v.wrapper {
        Some(w) => {
            let mut c = Command::new(&w[0]);
            c.args(&w[1..]).arg(&binary);
            c
        }
        None => Command::new(&binary),
    };
    cmd.args(["--allocs", &allocs.to_string(), "--threads", &threads.to_string(), "--sizes", sizes]);
    cmd.current_dir(scratch);
    for (k, val) in &v.env {
        cmd.env(k, val);
    }
    let out = cmd.output().unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", binary.display())));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("allocator=")).unwrap_or_else(|| {
        fail(&format!("{} printed no result: {}", v.name, String::from_utf8_lossy(&out.stderr)))
    });
    // Profilers' output files are not measured: remove them so they do not pile up.
    for entry in std::fs::read_dir(scratch).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    line.to_owned()
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("heapprof-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", d.display())));
    d
}

fn fail(msg: &str) -> ! {
    eprintln!("overhead: {msg}");
    std::process::exit(2);
}

fn fastest(seconds: &[f64]) -> f64 {
    seconds.iter().copied().fold(f64::INFINITY, f64::min)
}
