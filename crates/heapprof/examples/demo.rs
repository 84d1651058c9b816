//! The demo service: a workload under heapprof serving `/debug/pprof`.
//!
//! It keeps a map of byte buffers (1–10 KiB) that it cleans up now and then, a
//! cache that grows and then stays put, and a deliberate slow leak — the three
//! shapes a heap profile has to tell apart.
//!
//! ```text
//! cargo run --release --example demo -- [--addr 127.0.0.1:6060] [--duration 60s]
//! ```

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Prints a line; a closed stdout (`demo | head`) is not a reason to stop serving.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

/// Requests in flight: buffers of 1–10 KiB, most dropped soon after.
#[inline(never)]
fn handle_requests(sessions: &mut HashMap<u64, Vec<u8>>, next_id: &mut u64, rng: &mut u64) {
    for _ in 0..200 {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        let size = 1024 + (*rng % (9 * 1024)) as usize;
        sessions.insert(*next_id, vec![(*next_id % 251) as u8; size]);
        *next_id += 1;
    }
}

/// Periodic clean-up: keep the newest sessions only.
#[inline(never)]
fn expire_sessions(sessions: &mut HashMap<u64, Vec<u8>>, next_id: u64) {
    sessions.retain(|&id, _| id + 5_000 > next_id);
}

/// A cache that fills up to its capacity and then stays put.
#[inline(never)]
fn warm_cache(cache: &mut Vec<String>, capacity: usize) {
    if cache.len() < capacity {
        for i in 0..500 {
            cache.push(format!("cached-entry-{:08}-{}", cache.len(), "v".repeat(64 + i % 64)));
        }
    }
}

/// The bug: a little memory kept forever on every tick.
#[inline(never)]
fn leak_a_little(leaked: &mut Vec<Box<[u8]>>) {
    leaked.push(vec![0xEE; 16 * 1024].into_boxed_slice());
}

struct Args {
    addr: String,
    duration: Option<Duration>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args { addr: "127.0.0.1:6060".into(), duration: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?,
            "--duration" => args.duration = Some(parse_duration(&value()?)?),
            "-h" | "--help" => {
                say!("usage: demo [--addr HOST:PORT] [--duration 60s|5m|1h]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(args)
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {s:?}: want e.g. 30s, 5m, 1h");
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(bad()),
    };
    Ok(Duration::from_secs(seconds))
}

fn main() {
    let args = parse_args().unwrap_or_else(|e| {
        eprintln!("demo: {e}");
        std::process::exit(2);
    });
    let server = heapprof::http::serve(args.addr.as_str()).unwrap_or_else(|e| {
        eprintln!("demo: {e}");
        std::process::exit(2);
    });
    let base = format!("http://{}/debug/pprof", server.addr());
    say!("heapprof demo: serving {base}/ (rate {} bytes)", heapprof::sample_rate());
    say!("  heapprof top {base}/heap");
    say!("  curl -s '{base}/heap?debug=1' | head -30");
    say!("  curl -s {base}/stats");
    say!("  go tool pprof -top {base}/heap");
    say!("  go tool pprof -http=:8080 {base}/heap");
    match args.duration {
        Some(d) => say!("running for {} s", d.as_secs()),
        None => say!("running until stopped (Ctrl-C)"),
    }

    let start = Instant::now();
    let (mut sessions, mut cache, mut leaked) = (HashMap::new(), Vec::new(), Vec::new());
    let (mut next_id, mut rng, mut tick) = (0u64, 0x9e37_79b9_7f4a_7c15u64, 0u64);
    while args.duration.is_none_or(|d| start.elapsed() < d) {
        handle_requests(&mut sessions, &mut next_id, &mut rng);
        if tick % 10 == 0 {
            expire_sessions(&mut sessions, next_id);
        }
        warm_cache(&mut cache, 20_000);
        leak_a_little(&mut leaked);
        if tick % 100 == 0 {
            let s = heapprof::stats();
            say!(
                "t={:>4}s live {:.1} MiB ({} blocks), peak {:.1} MiB, leaked {:.1} MiB",
                start.elapsed().as_secs(),
                s.live_bytes as f64 / 1048576.0,
                s.live_objects,
                s.peak_live_bytes as f64 / 1048576.0,
                (leaked.len() * 16 * 1024) as f64 / 1048576.0
            );
        }
        tick += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}
