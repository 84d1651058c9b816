//! A real program under heapprof and heaptrack: serde_json parsing a large document
//! into a `Value` tree and indexing it into `BTreeMap`s (`heapprof_bench::real`).
//! Overhead of both profilers (runs interleaved, medians and spread), then one run
//! under both at once (heaptrack under heapprof at rate 1) to check that they count
//! the same allocation calls and bytes in the work function. Prints Markdown.
//!
//! ```text
//! target/release/real_program [--records 200000] [--runs 5]
//! ```

use std::path::Path;
use std::process::Command;

use heapprof_bench::real;
use heapprof_bench::runner::{Flags, RunCost, field, median, paired_ratios, run_measured, which};

struct Variant {
    name: &'static str,
    binary: &'static str,
    rate: Option<&'static str>,
    heaptrack: bool,
}

fn main() {
    let flags = Flags::from_env("real_program", "[--records N] [--runs N]", &["--records", "--runs"], &[]);
    let records = flags.number("--records", 200_000);
    let runs = flags.number("--runs", 5);
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| fail("cannot locate the real-program binaries"));
    let scratch = std::env::temp_dir().join(format!("heapprof-real-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)
        .unwrap_or_else(|e| fail(&format!("cannot create {}: {e}", scratch.display())));
    let heaptrack = which("heaptrack");
    let mut variants = vec![
        Variant { name: "glibc (bare)", binary: "json_bare", rate: None, heaptrack: false },
        Variant {
            name: "heapprof, default rate (512 KiB)",
            binary: "json_heapprof",
            rate: Some("524288"),
            heaptrack: false,
        },
        Variant {
            name: "heapprof, rate 1 (every allocation)",
            binary: "json_heapprof",
            rate: Some("1"),
            heaptrack: false,
        },
    ];
    if heaptrack.is_some() {
        variants.push(Variant {
            name: "heaptrack (every allocation)",
            binary: "json_bare",
            rate: None,
            heaptrack: true,
        });
    } else {
        eprintln!("real_program: heaptrack not installed: its rows are left out");
    }
    let mut seconds: Vec<Vec<f64>> = vec![vec![]; variants.len()];
    let mut rss: Vec<Vec<f64>> = vec![vec![]; variants.len()];
    let mut whole_wall: Vec<Vec<f64>> = vec![vec![]; variants.len()];
    let mut whole_cpu: Vec<Vec<f64>> = vec![vec![]; variants.len()];
    let mut last: Vec<String> = vec![String::new(); variants.len()];
    for _ in 0..runs {
        for (i, v) in variants.iter().enumerate() {
            let mut cmd = match (&heaptrack, v.heaptrack) {
                (Some(h), true) => {
                    let mut c = Command::new(h);
                    c.arg("-o").arg(scratch.join("ht")).arg(dir.join(v.binary));
                    c
                }
                _ => Command::new(dir.join(v.binary)),
            };
            cmd.args(["--records", &records.to_string()]).current_dir(&scratch);
            if let Some(rate) = v.rate {
                cmd.env("HEAPPROF_RATE", rate);
            }
            let (line, cost) = result_line(&mut cmd);
            whole_wall[i].push(cost.wall_seconds);
            whole_cpu[i].push(cost.cpu_seconds);
            seconds[i].push(field(&line, "seconds").parse().unwrap_or(f64::NAN));
            rss[i].push(field(&line, "peak_rss_kib").parse().unwrap_or(f64::NAN));
            last[i] = line;
            clear(&scratch);
        }
    }
    println!(
        "serde_json: a {:.1} MB document of {records} records, parsed into a `Value` and indexed into `BTreeMap`s; {runs} runs each, interleaved",
        field(&last[0], "document_bytes").parse::<f64>().unwrap_or(0.0) / 1e6
    );
    println!();
    println!(
        "| variant | median s (the program's own timing) | ratio to bare (median of rounds) | spread of ratio (min–max) | whole run: wall ratio | whole run: CPU ratio (all processes) | peak RSS (median) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, v) in variants.iter().enumerate() {
        let ratios = paired_ratios(&seconds[i], &seconds[0]);
        let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        println!(
            "| {} | {:.3} | {:.3}× | {lo:.3}–{hi:.3} | {:.3}× | {:.3}× | {:.1} MiB |",
            v.name,
            median(&seconds[i]),
            median(&ratios),
            median(&paired_ratios(&whole_wall[i], &whole_wall[0])),
            median(&paired_ratios(&whole_cpu[i], &whole_cpu[0])),
            median(&rss[i]) / 1024.0
        );
    }
    let rate1 = &last[2];
    println!();
    println!(
        "- heapprof's metadata at rate 1: {} bytes (at the default rate: {} bytes)",
        field(rate1, "profiler_bytes"),
        field(&last[1], "profiler_bytes")
    );

    // The same run under both: heaptrack intercepts malloc under heapprof at rate 1.
    let Some(h) = heaptrack else { return };
    let mut cmd = Command::new(&h);
    cmd.arg("-o")
        .arg(scratch.join("both"))
        .arg(dir.join("json_heapprof"))
        .args(["--records", &records.to_string()])
        .env("HEAPPROF_RATE", "1")
        .current_dir(&scratch);
    let (line, _) = result_line(&mut cmd);
    let data = std::fs::read_dir(&scratch)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("both")))
        .unwrap_or_else(|| fail("heaptrack wrote no data file"));
    let text = match Command::new("zstdcat").arg(&data).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        _ => fail("cannot decompress heaptrack's data file: zstdcat (apt-get install zstd) is needed"),
    };
    let t = real::heaptrack_totals(&text);
    let (hp_calls, hp_bytes) = (field(&line, "work_alloc_objects"), field(&line, "work_alloc_bytes"));
    let equal = hp_calls == t.work_calls.to_string() && hp_bytes == t.work_bytes.to_string();
    println!();
    println!(
        "One run under both profilers (heaptrack over `json_heapprof` at rate 1), allocations whose stack holds `json_work`:"
    );
    println!();
    println!("| counted by | allocation calls | bytes allocated |");
    println!("|---|---:|---:|");
    println!("| heapprof (heap profile, rate 1) | {hp_calls} | {hp_bytes} |");
    println!("| heaptrack (its data file) | {} | {} |", t.work_calls, t.work_bytes);
    println!("| equal | {} | |", if equal { "**yes**" } else { "**no**" });
    println!();
    println!(
        "- whole process: heaptrack {} calls, {} bytes; heapprof's counters {} allocations, {} bytes (read at the end of `main`; \
         heaptrack also sees glibc's own mallocs — ld.so, stdio, pthread — which never reach a Rust global allocator, and \
         heapprof's profile writing after the counters were read)",
        t.calls,
        t.bytes,
        field(&line, "allocated_objects"),
        field(&line, "allocated_bytes"),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    if !equal {
        std::process::exit(1);
    }
}

fn result_line(cmd: &mut Command) -> (String, RunCost) {
    let cost =
        run_measured(cmd).unwrap_or_else(|e| fail(&format!("cannot run {:?}: {e}", cmd.get_program())));
    let stdout = String::from_utf8_lossy(&cost.output.stdout);
    match stdout.lines().find(|l| l.starts_with("real ")) {
        Some(l) => (l.to_owned(), cost),
        None => fail(&format!(
            "{:?} printed no result: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&cost.output.stderr)
        )),
    }
}

fn clear(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("real_program: {msg}");
    std::process::exit(2);
}
