//! Accuracy: heapprof's per-site estimates against the exact figures the workload
//! counts itself, across seeds, at 512 KiB and 64 KiB; jemalloc's profiler
//! (`prof:true`, read with `jeprof`) on the same workload at the same mean rates;
//! and a check that at rate 1 every per-site figure is exact. Prints Markdown.
//!
//! ```text
//! target/release/accuracy [--seeds 20] [--divisor 1]
//! ```

use std::path::Path;
use std::process::Command;

use heapprof_bench::accuracy::{self, SITES, SiteTotals};
use heapprof_bench::runner::{Flags, which};

const JEMALLOC: &str = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";

fn main() {
    let flags = Flags::from_env("accuracy", "[--seeds N] [--divisor N]", &["--seeds", "--divisor"], &[]);
    let seeds = flags.number("--seeds", 20);
    let divisor = flags.number("--divisor", 1);
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| fail("cannot locate the accuracy binaries"));
    let scratch = std::env::temp_dir().join(format!("heapprof-accuracy-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", scratch.display())));
    let jeprof = which("jeprof");
    let jemalloc = Path::new(JEMALLOC).is_file() && jeprof.is_some();
    if !jemalloc {
        eprintln!(
            "accuracy: jemalloc rows left out: needs {JEMALLOC} (libjemalloc2) and jeprof (libjemalloc-dev)"
        );
    }

    // Rate 1: every figure must be exact.
    let out = run(Command::new(dir.join("accuracy_heapprof"))
        .env("HEAPPROF_RATE", "1")
        .arg("--divisor")
        .arg(divisor.to_string()));
    let truth = accuracy::parse_sites("truth", &out);
    let exact = accuracy::parse_sites("heapprof", &out);
    let mismatches: Vec<&str> = SITES
        .iter()
        .zip(truth.iter().zip(&exact))
        .filter(|(_, (t, e))| t != e)
        .map(|(s, _)| s.name)
        .collect();

    // Errors per (profiler, rate), per site, live bytes; heapprof also alloc bytes.
    let rates = [(524_288u64, 19u32, "512 KiB"), (65_536, 16, "64 KiB")];
    let mut heapprof_live: Vec<Vec<Vec<f64>>> = vec![vec![vec![]; SITES.len() + 1]; rates.len()];
    let mut heapprof_alloc: Vec<Vec<Vec<f64>>> = vec![vec![vec![]; SITES.len() + 1]; rates.len()];
    let mut jemalloc_live: Vec<Vec<Vec<f64>>> = vec![vec![vec![]; SITES.len() + 1]; rates.len()];
    for seed in 1..=seeds {
        for (r, &(rate, lg, _)) in rates.iter().enumerate() {
            let out = run(Command::new(dir.join("accuracy_heapprof"))
                .env("HEAPPROF_RATE", rate.to_string())
                .env("HEAPPROF_SEED", seed.to_string())
                .arg("--divisor")
                .arg(divisor.to_string()));
            let truth = accuracy::parse_sites("truth", &out);
            let est = accuracy::parse_sites("heapprof", &out);
            push_errors(&mut heapprof_live[r], &truth, &est, |t| t.live_bytes);
            push_errors(&mut heapprof_alloc[r], &truth, &est, |t| t.alloc_bytes);
            if let (true, Some(jeprof)) = (jemalloc, &jeprof) {
                let dump = scratch.join(format!("je.{seed}.{lg}.heap"));
                let bin = dir.join("accuracy_bare");
                let out = run(Command::new(&bin)
                    .env("LD_PRELOAD", JEMALLOC)
                    .env("MALLOC_CONF", format!("prof:true,lg_prof_sample:{lg}"))
                    .arg("--divisor")
                    .arg(divisor.to_string())
                    .arg("--dump")
                    .arg(&dump));
                let truth = accuracy::parse_sites("truth", &out);
                let text = run(Command::new(jeprof)
                    .args(["--text", "--show_bytes", "--inuse_space", "--nodecount=100000"])
                    .arg(&bin)
                    .arg(&dump));
                let live = accuracy::sites_in_jeprof_text(&text);
                let est: Vec<SiteTotals> =
                    live.iter().map(|&b| SiteTotals { live_bytes: b, ..SiteTotals::default() }).collect();
                push_errors(&mut jemalloc_live[r], &truth, &est, |t| t.live_bytes);
                let _ = std::fs::remove_file(&dump);
            }
        }
    }

    println!(
        "Rate 1, {} sites: {}",
        SITES.len(),
        if mismatches.is_empty() {
            "every per-site figure (allocated and live objects and bytes) equals the exact count".to_owned()
        } else {
            format!("**not exact** at {}", mismatches.join(", "))
        }
    );
    println!();
    println!(
        "Error of the live-bytes estimate (inuse_space) per site, percent, over {seeds} seeds (heapprof: HEAPPROF_SEED=1..{seeds}; \
         jemalloc: {seeds} runs, its own seeding): mean ± standard deviation [min, max]"
    );
    println!();
    let mut header = "| site | true live | ".to_owned();
    let mut rule = "|---|---:|".to_owned();
    for &(_, lg, name) in &rates {
        header.push_str(&format!("heapprof {name} | "));
        rule.push_str("---|");
        if jemalloc {
            header.push_str(&format!("jemalloc lg_prof_sample:{lg} ({name}) | "));
            rule.push_str("---|");
        }
    }
    println!("{}", header.trim_end());
    println!("{rule}");
    let true_live = |i: usize| -> f64 {
        if i < SITES.len() { truth[i].live_bytes } else { truth.iter().map(|t| t.live_bytes).sum() }
    };
    for i in 0..=SITES.len() {
        let name = if i < SITES.len() { SITES[i].name.to_owned() } else { "**total**".to_owned() };
        let mut row = format!("| {name} | {:.1} MiB | ", true_live(i) / 1048576.0);
        for r in 0..rates.len() {
            row.push_str(&format!("{} | ", cell(&heapprof_live[r][i])));
            if jemalloc {
                row.push_str(&format!("{} | ", cell(&jemalloc_live[r][i])));
            }
        }
        println!("{}", row.trim_end());
    }
    println!();
    println!("Error of heapprof's allocated-bytes estimate (alloc_space), percent, same runs:");
    println!();
    println!("| site | true allocated | {} |", rates.map(|(_, _, n)| format!("heapprof {n}")).join(" | "));
    println!("|---|---:|{}", "---|".repeat(rates.len()));
    for i in 0..=SITES.len() {
        let (name, bytes) = if i < SITES.len() {
            (SITES[i].name.to_owned(), truth[i].alloc_bytes)
        } else {
            ("**total**".to_owned(), truth.iter().map(|t| t.alloc_bytes).sum())
        };
        let cells: Vec<String> = (0..rates.len()).map(|r| cell(&heapprof_alloc[r][i])).collect();
        println!("| {name} | {:.1} MiB | {} |", bytes / 1048576.0, cells.join(" | "));
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Appends each site's error, then the total's, to `errors` (one list per site + total).
fn push_errors(
    errors: &mut [Vec<f64>],
    truth: &[SiteTotals],
    est: &[SiteTotals],
    f: impl Fn(&SiteTotals) -> f64,
) {
    for (i, (t, e)) in truth.iter().zip(est).enumerate() {
        errors[i].push(accuracy::error_percent(f(e), f(t)));
    }
    let total_t: f64 = truth.iter().map(&f).sum();
    let total_e: f64 = est.iter().map(&f).sum();
    errors[truth.len()].push(accuracy::error_percent(total_e, total_t));
}

fn cell(errors: &[f64]) -> String {
    let (mean, sd, lo, hi) = accuracy::summarize(errors);
    format!("{mean:+.1} ± {sd:.1} [{lo:+.1}, {hi:+.1}]")
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| fail(&format!("cannot run {:?}: {e}", cmd.get_program())));
    if !out.status.success() {
        fail(&format!("{:?} failed: {}", cmd.get_program(), String::from_utf8_lossy(&out.stderr)));
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fail(msg: &str) -> ! {
    eprintln!("accuracy: {msg}");
    std::process::exit(2);
}
