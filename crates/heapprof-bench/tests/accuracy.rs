//! The accuracy and equal-totals logic of the benchmark suite, on small runs (no timing).

use std::process::Command;

use heapprof_bench::accuracy::{self, SITES};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run a benchmark binary");
    assert!(out.status.success(), "{:?} failed: {}", cmd.get_program(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn rate_one_estimates_equal_the_workloads_own_counts() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_accuracy_heapprof"))
        .env("HEAPPROF_RATE", "1")
        .args(["--divisor", "50"]));
    let truth = accuracy::parse_sites("truth", &out);
    let estimate = accuracy::parse_sites("heapprof", &out);
    for (site, (t, e)) in SITES.iter().zip(truth.iter().zip(&estimate)) {
        assert!(t.alloc_objects > 0.0 && t.live_bytes > 0.0, "{}: empty truth {t:?}", site.name);
        assert_eq!(t, e, "{}: heapprof at rate 1 must be exact", site.name);
    }
}

#[test]
fn sampled_total_is_near_the_truth() {
    // One fixed seed at 64 KiB over about 48 MiB live: the expected error of the total
    // is a few percent; 15% would be a broken estimator, not bad luck.
    let out = run(Command::new(env!("CARGO_BIN_EXE_accuracy_heapprof"))
        .env("HEAPPROF_RATE", "65536")
        .env("HEAPPROF_SEED", "7")
        .args(["--divisor", "4"]));
    let truth: f64 = accuracy::parse_sites("truth", &out).iter().map(|t| t.live_bytes).sum();
    let estimate: f64 = accuracy::parse_sites("heapprof", &out).iter().map(|t| t.live_bytes).sum();
    let error = accuracy::error_percent(estimate, truth);
    assert!(error.abs() < 15.0, "total live estimate {estimate} vs {truth}: {error:+.1}%");
}

#[test]
fn heaptrack_counts_the_same_work_allocations_as_heapprof_at_rate_one() {
    let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !have("heaptrack") || !have("zstdcat") {
        eprintln!("skipped: needs heaptrack and zstdcat (apt-get install heaptrack zstd)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("heapprof-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let out = run(Command::new("heaptrack")
        .arg("-o")
        .arg(dir.join("both"))
        .arg(env!("CARGO_BIN_EXE_json_heapprof"))
        .args(["--records", "2000"])
        .env("HEAPPROF_RATE", "1"));
    let line = out.lines().find(|l| l.starts_with("real ")).expect("result line");
    let field = |k: &str| -> u64 {
        line.split_whitespace().find_map(|kv| kv.strip_prefix(k)?.strip_prefix('=')?.parse().ok()).expect(k)
    };
    let data = std::fs::read_dir(&dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.path())
        .next()
        .expect("heaptrack data");
    let text = run(Command::new("zstdcat").arg(&data));
    let _ = std::fs::remove_dir_all(&dir);
    let t = heapprof_bench::real::heaptrack_totals(&text);
    assert!(t.work_calls > 10_000, "too few allocations seen: {t:?}");
    assert_eq!(t.work_calls, field("work_alloc_objects"));
    assert_eq!(t.work_bytes, field("work_alloc_bytes"));
}

#[test]
fn heaptrack_data_file_is_read_with_inlined_frames_and_traces() {
    // Strings are numbered from 1, instruction pointers from 1, traces from 1,
    // allocation infos from 0 (all hex).
    let text = "v 10400 3\ns 4 prog\ns 9 json_work\ns 4 main\ns 5 other\n\
                i 1000 1 3 0 0\ni 1010 1 4 0 0 2 0 0\ni 1020 1 4 0 0\n\
                t 1 0\nt 2 1\nt 3 1\n\
                a 10 2\na 20 3\n+ 0\n+ 1\n+ 0\n- 0\n";
    let t = heapprof_bench::real::heaptrack_totals(text);
    assert_eq!(
        t,
        heapprof_bench::real::HeaptrackTotals {
            calls: 3,
            bytes: 0x10 * 2 + 0x20,
            work_calls: 2,
            work_bytes: 0x20
        }
    );
}
