//! What the benchmark drivers share: reading their options, finding peer tools,
//! reading the `key=value` lines the workloads print, and taking medians.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

/// A benchmark driver's command line: `--flag value` pairs and bare switches, checked
/// against the flags the driver knows. A misspelt or unknown flag, or one without its
/// value, is an error (exit 2): otherwise `overhead --help` ran the whole suite with
/// its defaults. `--help` prints the usage.
#[derive(Debug)]
pub struct Flags {
    program: &'static str,
    args: Vec<String>,
}

impl Flags {
    /// Reads this process's arguments, exiting with the usage on `--help` (status 0)
    /// or on a bad command line (status 2).
    pub fn from_env(program: &'static str, usage: &str, with_value: &[&str], switches: &[&str]) -> Flags {
        match check(std::env::args().skip(1).collect(), with_value, switches) {
            Ok(Some(args)) => Flags { program, args },
            Ok(None) => {
                println!("usage: {program} {usage}");
                std::process::exit(0)
            }
            Err(e) => {
                eprintln!("{program}: {e} (usage: {program} {usage})");
                std::process::exit(2)
            }
        }
    }

    /// The value after `flag`, if given.
    pub fn text(&self, flag: &str) -> Option<&str> {
        self.args.iter().position(|a| a == flag).and_then(|i| self.args.get(i + 1)).map(String::as_str)
    }

    /// The number after `flag`, or `default` when the flag is absent; exits 2 when the
    /// value is not a number.
    pub fn number(&self, flag: &str, default: usize) -> usize {
        match self.text(flag) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                eprintln!("{}: {flag}: not a number: {v}", self.program);
                std::process::exit(2)
            }),
        }
    }

    /// The comma-separated numbers after `flag`, or `default`'s; exits 2 when one is
    /// not a number.
    pub fn numbers(&self, flag: &str, default: &str) -> Vec<usize> {
        let list = self.text(flag).unwrap_or(default);
        list.split(',')
            .map(|v| {
                v.parse().unwrap_or_else(|_| {
                    eprintln!("{}: {flag}: not a number: {v}", self.program);
                    std::process::exit(2)
                })
            })
            .collect()
    }

    /// Whether the switch `flag` was given.
    pub fn has(&self, flag: &str) -> bool {
        self.args.iter().any(|a| a == flag)
    }
}

/// `Ok(None)` for `--help`; the arguments when every flag is known and has its value.
fn check(args: Vec<String>, with_value: &[&str], switches: &[&str]) -> Result<Option<Vec<String>>, String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--help" || a == "-h" {
            return Ok(None);
        }
        if with_value.contains(&a.as_str()) {
            if it.next().is_none() {
                return Err(format!("{a} needs a value"));
            }
        } else if !switches.contains(&a.as_str()) {
            return Err(format!("unknown argument {a}"));
        }
    }
    Ok(Some(args))
}

/// `tool` on PATH, if it is there.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join(tool)).find(|p| p.is_file())
}

/// The value of `key=value` in a workload's report line, or "?".
pub fn field(line: &str, key: &str) -> String {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or("?")
        .to_owned()
}

/// The median of `xs` (the upper one of an even count); `xs` must not be empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A 95% confidence interval for the median of the distribution `xs` was drawn from,
/// assuming nothing of its shape: the order statistics `k` and `n + 1 - k` (1-based)
/// with `k = ⌊n/2 − 0.98·√n⌋`, from the binomial count of samples below the median
/// (normal approximation). None for fewer than 8 values, where `k` is below 1.
pub fn median_interval(xs: &[f64]) -> Option<(f64, f64)> {
    let n = xs.len();
    let k = (n as f64 / 2.0 - 0.98 * (n as f64).sqrt()).floor();
    if k < 1.0 {
        return None;
    }
    let k = k as usize;
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Some((v[k - 1], v[n - k]))
}

/// The order in which to run `n` variants in round `round`: a shuffle, the same for
/// the same round in every run. A fixed order made each variant always follow the
/// same one, and the kernel's cost of handing out pages depends on what ran before:
/// mimalloc's baseline, run after heapprof's rate-1 row, took twice as long as it
/// does alone, so heapprof over mimalloc came out at 0.5× its baseline.
pub fn round_order(n: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut state = (round as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for i in (1..n).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        order.swap(i, (state % (i as u64 + 1)) as usize);
    }
    order
}

/// Each round's figure divided by the baseline's figure in the same round: on a
/// machine whose speed drifts, steadier than a ratio of medians over the whole run.
pub fn paired_ratios(xs: &[f64], baseline: &[f64]) -> Vec<f64> {
    xs.iter().zip(baseline).map(|(x, b)| x / b).collect()
}

/// A command's output and what the whole run cost: wall time from spawn to exit, and
/// CPU time (user + system) of the command and every descendant it waited for. A
/// profiler that hands work to a helper process (heaptrack's `heaptrack_interpret`
/// runs beside the program, on another core) pays it here, not in the program's own
/// timing of its loops.
#[derive(Debug)]
pub struct RunCost {
    pub output: Output,
    pub wall_seconds: f64,
    pub cpu_seconds: f64,
}

/// Runs `cmd` to completion, measuring it whole (see [`RunCost`]). The caller must
/// not run other children at the same time: CPU time is read for all children.
pub fn run_measured(cmd: &mut Command) -> std::io::Result<RunCost> {
    let before = children_cpu_seconds();
    let start = Instant::now();
    let output = cmd.output()?;
    let wall_seconds = start.elapsed().as_secs_f64();
    Ok(RunCost { output, wall_seconds, cpu_seconds: children_cpu_seconds() - before })
}

/// User + system time of this process's terminated, waited-for children so far.
fn children_cpu_seconds() -> f64 {
    // SAFETY: getrusage writes into the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::{check, median_interval, round_order};

    #[test]
    fn the_median_interval_takes_order_statistics_around_the_middle() {
        assert_eq!(median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]), None);
        let xs: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        // k = ⌊50 − 9.8⌋ = 40: the 40th and 61st smallest.
        assert_eq!(median_interval(&xs), Some((40.0, 61.0)));
        // k = ⌊4 − 2.77⌋ = 1: the extremes.
        assert_eq!(median_interval(&xs[..8]), Some((93.0, 100.0)));
    }

    #[test]
    fn flags_are_checked_against_the_known_ones() {
        let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let known = (&["--runs", "--sizes"][..], &["--smoke"][..]);
        assert_eq!(check(args("--runs 3 --smoke"), known.0, known.1), Ok(Some(args("--runs 3 --smoke"))));
        assert_eq!(check(args("--smoke --help --bogus"), known.0, known.1), Ok(None));
        assert_eq!(check(args("--run 3"), known.0, known.1), Err("unknown argument --run".into()));
        assert_eq!(check(args("--smoke --runs"), known.0, known.1), Err("--runs needs a value".into()));
        assert_eq!(check(args("7"), known.0, known.1), Err("unknown argument 7".into()));
    }

    #[test]
    fn every_round_runs_every_variant_once_in_varying_order() {
        let orders: Vec<Vec<usize>> = (0..7).map(|r| round_order(14, r)).collect();
        for order in &orders {
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..14).collect::<Vec<_>>());
        }
        assert!(orders.windows(2).all(|w| w[0] != w[1]), "{orders:?}");
        assert_eq!(round_order(14, 3), orders[3], "not reproducible");
    }
}
