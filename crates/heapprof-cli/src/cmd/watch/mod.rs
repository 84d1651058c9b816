//! `heapprof watch`: the production monitoring loop. Fetches a heap profile
//! every interval, keeps the last ones in a directory, prints a line per
//! fetch, and alerts (stderr, exit status 3, a hook command) when the in-use
//! total passes a threshold or a leak suspect appears. A target that restarts
//! or cannot be reached is retried with backoff; Ctrl-C stops cleanly.

use std::collections::{BTreeSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

mod parse;

use anyhow::Result;
use heapprof_profile::report::units::scaled_label;
use heapprof_profile::trend::{
    ProcessMark, ProfileTrendOptions, RetainedFile, TimedProfile, format_utc_seconds, profile_file_name,
    profile_trend, retention_victims, site_name, time_from_file_name,
};
use heapprof_profile::{Profile, encode_gzip, is_gzip};

use crate::error::{bad, one_line};
use crate::output::{writable_dir, write_file};
use crate::source;
pub use parse::parse_duration;
use parse::{format_duration, parse_size};

/// Set by Ctrl-C (SIGINT) or SIGTERM: the loop ends after the current fetch.
static STOP: AtomicBool = AtomicBool::new(false);

/// Least confidence of a suspect that raises an alert.
const ALERT_CONFIDENCE: f64 = 0.5;

/// Fewest profiles in the window before suspects are looked for.
const MIN_PROFILES_FOR_SUSPECTS: usize = 5;

/// Fetch a heap profile periodically, keep the last ones, alert on growth
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Prints one line per fetch (time, in-use total, change, file saved). Alerts go to stderr \
as `heapprof: alert: ...`, run the --on-alert command (with HEAPPROF_ALERT, \
HEAPPROF_PROFILE and HEAPPROF_URL set), and make the exit status 3. Sizes use pprof's \
units (1MB = 2^20 bytes). Profiles are saved as heap_watch_<UTC time>.pb.gz. A restart \
of the target (its program mapped at another address or rebuilt, or its allocation total \
going down) is reported and starts a new series.

Exit status: 0 when stopped (Ctrl-C, --count) without an alert, 3 after an alert, \
2 for bad usage.

Examples:
  heapprof watch http://localhost:6060/debug/pprof/heap --every 5m --dir profiles
  heapprof watch http://svc:6060/debug/pprof/heap --every 1m --dir p --keep 60 --threshold 1GB \\
      --on-alert 'notify-send \"$HEAPPROF_ALERT\"'")]
pub struct Args {
    /// The heap profile endpoint (http:// or https://)
    #[arg(value_name = "URL")]
    url: String,
    /// Time between fetches (e.g. 30s, 5m, 1h)
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    every: String,
    /// Directory for the profiles (created if missing)
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Keep at most N profiles in DIR, removing the oldest
    #[arg(long, value_name = "N", default_value_t = 100)]
    keep: usize,
    /// Alert when the in-use total passes this size (e.g. 512MB, 1GB)
    #[arg(long, value_name = "SIZE")]
    threshold: Option<String>,
    /// Shell command run on each alert
    #[arg(long, value_name = "COMMAND")]
    on_alert: Option<String>,
    /// Stop at the first alert
    #[arg(long)]
    exit_on_alert: bool,
    /// Stop after N fetches, successful or not [default: until interrupted]
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Sample type followed [default: inuse_space, else the last one]
    #[arg(long, value_name = "TYPE")]
    sample_index: Option<String>,
    /// Profiles (since the target last started) looked at for leak suspects
    #[arg(long, value_name = "N", default_value_t = 12)]
    window: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let every = parse_duration(&args.every).map_err(|e| bad("--every", e))?;
    if every.is_zero() {
        return Err(bad("--every", "must be more than 0"));
    }
    let threshold = match &args.threshold {
        Some(t) => Some(parse_size(t).map_err(|e| bad("--threshold", e))?),
        None => None,
    };
    if !source::is_url(&args.url) {
        return Err(bad(&args.url, "not an http:// or https:// URL"));
    }
    if args.keep == 0 {
        return Err(bad("--keep", "must be at least 1"));
    }
    if args.count == Some(0) {
        return Err(bad("--count", "must be at least 1"));
    }
    std::fs::create_dir_all(&args.dir).map_err(|e| bad("--dir", format!("{}: {e}", args.dir.display())))?;
    // Checked now, so that a directory the profiles cannot go to is a usage error at
    // once, not a failure at every fetch.
    writable_dir(&args.dir).map_err(|e| bad("--dir", e))?;
    if let Err(e) = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            // A second Ctrl-C while a fetch hangs: leave now.
            std::process::exit(130);
        }
    }) {
        eprintln!("heapprof: cannot catch Ctrl-C ({e}); stop with a signal instead");
    }
    let mut watcher = Watcher::new(args, every, threshold);
    watcher.run_loop();
    if let Some(e) = watcher.fatal {
        return Err(e);
    }
    let how = if STOP.load(Ordering::SeqCst) { "interrupted" } else { "stopped" };
    eprintln!(
        "heapprof: {how} after {} fetch(es), {} failed, {} alert(s); profiles in {}",
        watcher.fetches,
        watcher.failed,
        watcher.alerts,
        args.dir.display()
    );
    if watcher.alerts > 0 {
        let _ = std::io::stdout().flush();
        std::process::exit(3);
    }
    Ok(())
}

/// The loop's state.
struct Watcher<'a> {
    args: &'a Args,
    every: Duration,
    threshold: Option<u64>,
    /// The last profiles since the target started: (time, file name, profile).
    window: VecDeque<(i64, String, Profile)>,
    last_total: Option<i64>,
    /// What the last profile told about the target's process.
    last_process: Option<ProcessMark>,
    above_threshold: bool,
    alerted_suspects: BTreeSet<Vec<String>>,
    fetches: u64,
    failed: u64,
    failures_in_a_row: u32,
    down_since: Option<Instant>,
    alerts: u64,
    stop: bool,
    /// Bad usage found only once a profile came (`--sample-index` it does not have).
    fatal: Option<anyhow::Error>,
}

impl<'a> Watcher<'a> {
    fn new(args: &'a Args, every: Duration, threshold: Option<u64>) -> Self {
        Watcher {
            args,
            every,
            threshold,
            window: VecDeque::new(),
            last_total: None,
            last_process: None,
            above_threshold: false,
            alerted_suspects: BTreeSet::new(),
            fetches: 0,
            failed: 0,
            failures_in_a_row: 0,
            down_since: None,
            alerts: 0,
            stop: false,
            fatal: None,
        }
    }

    fn run_loop(&mut self) {
        while !STOP.load(Ordering::SeqCst) {
            let started = Instant::now();
            let wait = self.fetch_once();
            self.fetches += 1;
            if self.stop || self.fatal.is_some() || self.args.count.is_some_and(|n| self.fetches >= n) {
                return;
            }
            if !sleep_unless_stopped(wait.saturating_sub(started.elapsed())) {
                return;
            }
        }
    }

    /// Fetches once; returns the time until the next fetch (the interval, or
    /// the backoff after a failure).
    fn fetch_once(&mut self) -> Duration {
        let now = unix_nanos();
        // The profile is saved as fetched (legacy text as its pprof encoding); the names
        // given to its nameless addresses are for the reports.
        let url = &self.args.url;
        let fetched = source::fetch(url, None).and_then(|bytes| {
            let profile = source::decode_any(url, &bytes)?;
            let bytes = if is_gzip(&bytes) && !source::is_legacy_text(&bytes) {
                bytes
            } else {
                encode_gzip(&profile)
            };
            Ok((bytes, source::named(url, profile)?))
        });
        match fetched {
            Err(e) => {
                self.failed += 1;
                self.failures_in_a_row += 1;
                self.down_since.get_or_insert_with(Instant::now);
                let wait = backoff(self.failures_in_a_row, self.every);
                say(&format!(
                    "{}  fetch failed: {}; retrying in {}",
                    format_utc_seconds(now),
                    one_line(&e),
                    format_duration(wait)
                ));
                wait
            }
            Ok((bytes, profile)) => {
                if let Some(since) = self.down_since.take() {
                    say(&format!(
                        "{}  target reachable again after {} failed fetch(es) over {}",
                        format_utc_seconds(now),
                        self.failures_in_a_row,
                        format_duration(since.elapsed())
                    ));
                }
                self.failures_in_a_row = 0;
                self.on_profile(now, &bytes, profile);
                self.every
            }
        }
    }

    fn on_profile(&mut self, now: i64, bytes: &[u8], profile: Profile) {
        let stamp = format_utc_seconds(now);
        let Some((index, sample_type, unit)) = followed_type(&profile, self.args.sample_index.as_deref())
        else {
            let names: Vec<&str> = profile.sample_type.iter().map(|vt| profile.str(vt.r#type)).collect();
            self.fatal = Some(match &self.args.sample_index {
                // A target serves the same sample types every time: no use going on.
                Some(wanted) => bad(
                    "--sample-index",
                    format!("the profile has no {wanted} (it has {})", names.join(", ")),
                ),
                None => bad(&self.args.url, "the profile has no sample types"),
            });
            return;
        };
        let (saved, removed) = match self.save(now, bytes) {
            Ok(r) => r,
            Err(e) => {
                self.failed += 1;
                say(&format!("{stamp}  cannot save the profile: {}", one_line(&e)));
                (None, 0)
            }
        };
        let process = ProcessMark::of(&profile);
        if let Some(restart) = self.last_process.as_ref().and_then(|before| process.restart_since(before)) {
            say(&format!("{stamp}  target restarted ({}): a new series starts", restart.reason()));
            self.window.clear();
            self.alerted_suspects.clear();
            self.last_total = None;
        }
        self.last_process = Some(process);
        let total =
            profile.sample.iter().filter_map(|s| s.value.get(index)).fold(0i64, |a, &v| a.saturating_add(v));
        let change = match self.last_total {
            Some(before) => {
                let d = total.saturating_sub(before);
                let sign = if d >= 0 { "+" } else { "" };
                format!("  {sign}{}", scaled_label(d, &unit, "auto"))
            }
            None => String::new(),
        };
        self.last_total = Some(total);
        let name = saved.as_ref().map_or_else(String::new, |p| {
            let file = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            format!("  saved {file}")
        });
        let removed = if removed > 0 { format!(", {removed} old removed") } else { String::new() };
        say(&format!("{stamp}  {sample_type} {}{change}{name}{removed}", scaled_label(total, &unit, "auto")));

        let time = if profile.time_nanos > 0 { profile.time_nanos } else { now };
        let label = saved.as_ref().map_or_else(|| stamp.clone(), |p| p.display().to_string());
        self.window.push_back((time, label, profile));
        while self.window.len() > self.args.window.max(MIN_PROFILES_FOR_SUSPECTS) {
            self.window.pop_front();
        }
        self.check_threshold(total, &unit, saved.as_deref());
        self.check_suspects(&sample_type, saved.as_deref());
    }

    /// Writes the profile (gzipped protobuf, as fetched) and applies `--keep`.
    fn save(&self, now: i64, bytes: &[u8]) -> Result<(Option<PathBuf>, usize)> {
        let name = profile_file_name("watch", now);
        let mut path = self.args.dir.join(&name);
        let mut n = 1;
        while path.exists() {
            path = self.args.dir.join(format!("{}-{n}.pb.gz", name.trim_end_matches(".pb.gz")));
            n += 1;
        }
        write_file(&path, bytes)?;
        Ok((Some(path), remove_beyond(&self.args.dir, self.args.keep)))
    }

    fn check_threshold(&mut self, total: i64, unit: &str, profile: Option<&Path>) {
        let Some(limit) = self.threshold else { return };
        let over = total > limit.min(i64::MAX as u64) as i64;
        if over && !self.above_threshold {
            let message = format!(
                "in-use total {} is above the threshold {}",
                scaled_label(total, unit, "auto"),
                scaled_label(limit.min(i64::MAX as u64) as i64, unit, "auto")
            );
            self.alert(&message, profile);
        }
        self.above_threshold = over;
    }

    fn check_suspects(&mut self, sample_type: &str, profile: Option<&Path>) {
        if self.window.len() < MIN_PROFILES_FOR_SUSPECTS {
            return;
        }
        let timed: Vec<TimedProfile<'_>> = self
            .window
            .iter()
            .map(|(t, source, p)| TimedProfile { time_nanos: *t, source, profile: p })
            .collect();
        let opts = ProfileTrendOptions {
            sample_type: Some(sample_type.to_string()),
            ..ProfileTrendOptions::default()
        };
        let Ok(report) = profile_trend(&timed, &opts) else {
            return;
        };
        let mut fresh = Vec::new();
        for s in report.suspects().filter(|s| s.confidence >= ALERT_CONFIDENCE) {
            if self.alerted_suspects.insert(s.stack.clone()) {
                fresh.push(format!(
                    "leak suspect: {} grows {}/min (confidence {:.2}, R² {:.2}, now {})",
                    site_name(&s.stack),
                    scaled_label(s.slope_per_min as i64, &report.unit, "auto"),
                    s.confidence,
                    s.r_squared,
                    scaled_label(s.last, &report.unit, "auto")
                ));
            }
        }
        for message in fresh {
            self.alert(&message, profile);
        }
    }

    /// Reports an alert on stderr and runs the hook.
    fn alert(&mut self, message: &str, profile: Option<&Path>) {
        self.alerts += 1;
        eprintln!("heapprof: alert: {message}");
        if let Some(command) = &self.args.on_alert {
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(command)
                .env("HEAPPROF_ALERT", message)
                .env("HEAPPROF_PROFILE", profile.map(Path::as_os_str).unwrap_or_default())
                .env("HEAPPROF_URL", &self.args.url)
                .status();
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => eprintln!("heapprof: --on-alert command ended with {s}"),
                Err(e) => eprintln!("heapprof: cannot run the --on-alert command: {e}"),
            }
        }
        if self.args.exit_on_alert {
            self.stop = true;
        }
    }
}

/// (index, name, unit) of the sample type followed.
fn followed_type(p: &Profile, wanted: Option<&str>) -> Option<(usize, String, String)> {
    let names: Vec<&str> = p.sample_type.iter().map(|vt| p.str(vt.r#type)).collect();
    let index = match wanted {
        Some(w) => names.iter().position(|n| *n == w)?,
        None => names.iter().position(|n| *n == "inuse_space").or(names.len().checked_sub(1))?,
    };
    let vt = p.sample_type[index];
    Some((index, p.str(vt.r#type).to_string(), p.str(vt.unit).to_string()))
}

/// Removes the oldest `heap_watch_*.pb.gz` files of `dir` beyond `keep`.
fn remove_beyond(dir: &Path, keep: usize) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let (mut paths, mut files) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !name.starts_with("heap_watch_") || !name.ends_with(".pb.gz") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let time_nanos = time_from_file_name(&name).unwrap_or_else(|| {
            meta.modified()
                .ok()
                .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
        });
        paths.push(entry.path());
        files.push(RetainedFile { time_nanos, name, bytes: meta.len() });
    }
    retention_victims(&files, Some(keep), None)
        .into_iter()
        .filter(|&i| std::fs::remove_file(&paths[i]).is_ok())
        .count()
}

/// 1 s, 2 s, 4 s… after consecutive failures, never more than the interval.
fn backoff(failures: u32, every: Duration) -> Duration {
    let doubling = Duration::from_secs(1).saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    doubling.min(every)
}

/// Sleeps for `d` in short steps; false when Ctrl-C came meanwhile.
fn sleep_unless_stopped(d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if STOP.load(Ordering::SeqCst) {
            return false;
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

/// Prints a line on stdout; a reader that went away ends the command quietly.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

fn unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_interval() {
        let every = Duration::from_secs(300);
        let waits: Vec<u64> = (1..=10).map(|n| backoff(n, every).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        assert_eq!(backoff(1, Duration::from_millis(200)), Duration::from_millis(200));
        assert_eq!(backoff(u32::MAX, every), every);
    }
}
