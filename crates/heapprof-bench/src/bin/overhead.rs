//! Allocation overhead: the same workload on the bare allocator and under each
//! profiler, runs interleaved (A/B/C…, repeated) so that machine noise spreads over
//! all variants alike. Prints a Markdown table of medians and ratios.
//!
//! ```text
//! cargo build --release -p heapprof-bench
//! target/release/overhead [--runs 5] [--allocs 2000000] [--smoke]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// Debian's libjemalloc2, built with profiling support.
const JEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

struct Variant {
    name: &'static str,
    binary: &'static str,
    env: Vec<(&'static str, String)>,
    /// A command that wraps the binary (e.g. heaptrack), if any.
    wrapper: Option<Vec<String>>,
}

struct Measured {
    seconds: Vec<f64>,
    last_line: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let value = |flag: &str, default: usize| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse::<usize>().unwrap_or_else(|_| fail(&format!("{flag}: not a number: {v}"))))
            .unwrap_or(default)
    };
    let runs = value("--runs", if smoke { 1 } else { 5 });
    let allocs = value("--allocs", if smoke { 100_000 } else { 2_000_000 });
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| fail("cannot locate the workload binaries"));
    let scratch = tempdir();

    let mut variants = vec![
        Variant { name: "glibc (bare)", binary: "workload_bare", env: vec![], wrapper: None },
        heapprof_at("heapprof, rate 0 (stats only)", "0"),
        heapprof_at("heapprof, default rate (512 KiB)", "524288"),
        heapprof_at("heapprof, 64 KiB", "65536"),
        heapprof_at("heapprof, rate 1 (every allocation)", "1"),
    ];
    // jemalloc's own sampling profiler, at the same mean rate (2^19 bytes), over
    // jemalloc without profiling: both preloaded under the bare workload.
    let jemalloc = Path::new(JEMALLOC);
    if jemalloc.is_file() {
        variants.push(Variant {
            name: "jemalloc (bare, LD_PRELOAD)",
            binary: "workload_bare",
            env: vec![("LD_PRELOAD", JEMALLOC.to_owned())],
            wrapper: None,
        });
        variants.push(Variant {
            name: "jemalloc prof:true, lg_prof_sample:19",
            binary: "workload_bare",
            env: vec![
                ("LD_PRELOAD", JEMALLOC.to_owned()),
                ("MALLOC_CONF", "prof:true,lg_prof_sample:19".to_owned()),
            ],
            wrapper: None,
        });
    } else {
        eprintln!("overhead: {JEMALLOC} not installed (apt-get install libjemalloc2): its rows are left out");
    }
    let heaptrack = which("heaptrack");
    match &heaptrack {
        Some(h) => variants.push(Variant {
            name: "heaptrack (every allocation)",
            binary: "workload_bare",
            env: vec![],
            wrapper: Some(vec![
                h.display().to_string(),
                "-o".into(),
                scratch.join("heaptrack").display().to_string(),
            ]),
        }),
        None => eprintln!("overhead: heaptrack not installed: its row is left out"),
    }

    println!("| workload | variant | median s | ratio to bare | spread of ratio (min–max) |");
    println!("|---|---|---|---|---|");
    let mut sample_cost = Vec::new();
    let mut jemalloc_ratios = Vec::new();
    for threads in [1usize, 2] {
        let workload = format!("mixed 16 B–64 KiB, window 4096, {threads} thread(s), {allocs} allocs/thread");
        let mut results: Vec<Measured> =
            variants.iter().map(|_| Measured { seconds: vec![], last_line: String::new() }).collect();
        for _ in 0..runs {
            for (v, r) in variants.iter().zip(results.iter_mut()) {
                let (s, line) = run(&dir, v, allocs, threads, &scratch);
                r.seconds.push(s);
                r.last_line = line;
            }
        }
        let bare = median(&results[0].seconds);
        for (v, r) in variants.iter().zip(&results) {
            let m = median(&r.seconds);
            let ratios: Vec<f64> = r.seconds.iter().map(|s| s / bare).collect();
            let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            println!("| {workload} | {} | {m:.3} | {:.3}× | {lo:.3}–{hi:.3} |", v.name, m / bare);
        }
        let by_name =
            |name: &str| variants.iter().position(|v| v.name == name).map(|i| median(&results[i].seconds));
        if let (Some(je), Some(prof)) =
            (by_name("jemalloc (bare, LD_PRELOAD)"), by_name("jemalloc prof:true, lg_prof_sample:19"))
        {
            jemalloc_ratios.push((threads, prof / je, median(&results[2].seconds) / bare));
        }
        let rate0 = median(&results[1].seconds);
        let rate1 = median(&results[4].seconds);
        let per_sample_ns = (rate1 - rate0) * 1e9 / allocs as f64;
        let bytes_per_sample = field(&results[4].last_line, "profiler_bytes_per_live_sample");
        sample_cost.push((threads, per_sample_ns, bytes_per_sample));
    }
    println!();
    for (threads, ns, bytes) in sample_cost {
        println!(
            "- {threads} thread(s): one sample (stack capture + record) costs {ns:.0} ns \
             (rate 1 minus rate 0, per allocation); profiler memory per live sampled block at rate 1: {bytes} bytes"
        );
    }
    for (threads, jemalloc, heapprof) in jemalloc_ratios {
        println!(
            "- {threads} thread(s): jemalloc's profiler over jemalloc alone {jemalloc:.3}×; \
             heapprof at the same rate over glibc alone {heapprof:.3}×"
        );
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

fn heapprof_at(name: &'static str, rate: &str) -> Variant {
    Variant {
        name,
        binary: "workload_heapprof",
        env: vec![("HEAPPROF_RATE", rate.to_owned())],
        wrapper: None,
    }
}

fn run(dir: &Path, v: &Variant, allocs: usize, threads: usize, scratch: &Path) -> (f64, String) {
    let binary = dir.join(v.binary);
    let mut cmd = match &v.wrapper {
        Some(w) => {
            let mut c = Command::new(&w[0]);
            c.args(&w[1..]).arg(&binary);
            c
        }
        None => Command::new(&binary),
    };
    cmd.args(["--allocs", &allocs.to_string(), "--threads", &threads.to_string()]);
    cmd.current_dir(scratch);
    for (k, val) in &v.env {
        cmd.env(k, val);
    }
    let out = cmd.output().unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", binary.display())));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().find(|l| l.starts_with("allocator=")).unwrap_or_else(|| {
        fail(&format!("{} printed no result: {}", v.name, String::from_utf8_lossy(&out.stderr)))
    });
    let seconds = field(line, "seconds").parse().unwrap_or_else(|_| fail(&format!("bad line: {line}")));
    (seconds, line.to_owned())
}

fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("?")
        .to_owned()
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
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
