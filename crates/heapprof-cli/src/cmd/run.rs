//! `heapprof run`: runs a program with `libheapprof_preload.so` preloaded, so that
//! its `malloc` heap is sampled and written as a pprof profile at exit, then says
//! where the profiles went and prints the top 5 allocation sites.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use heapprof::__preload::{FileStamp, parse_bytes, parse_duration};
use heapprof_profile::report::{Granularity, TopOptions, TrimOptions};

use crate::error::bad;
use crate::options::{Selection, report_of};
use crate::output::writable_dir;
use crate::source;

/// The preload library's file name, as cargo names the cdylib.
const LIBRARY: &str = "libheapprof_preload.so";
/// The environment variable that names the library explicitly.
const LIBRARY_VAR: &str = "HEAPPROF_PRELOAD_LIB";
/// Filled in place by the first process that loads the library (see the
/// library's `lifecycle` module): enough digits for any Linux pid.
const MAIN_PID_PLACEHOLDER: &str = "0000000000";

/// Run a program with heapprof preloaded and write its heap profile at exit
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The program runs with libheapprof_preload.so in LD_PRELOAD (found next to this binary, or named by HEAPPROF_PRELOAD_LIB). Its exit status is passed on (128+N for signal N).\n\nExamples:\n  heapprof run -- python3 script.py\n  heapprof run --rate 1 -o all.pb.gz -- ./prog --flag\n  heapprof run --every 30s --dir profiles --http 127.0.0.1:6060 -- ./server"
)]
pub struct Args {
    /// Sample rate: mean bytes between samples (524288, 512KiB, 64k; 1 = every allocation)
    #[arg(long, value_name = "BYTES")]
    rate: Option<String>,
    /// The profile written when the program exits (a file: the program has stdout)
    #[arg(short = 'o', long, value_name = "FILE", default_value = "heap.pb.gz")]
    output: PathBuf,
    /// Also write a profile every DURATION (30s, 5m, 1h)
    #[arg(long, value_name = "DURATION")]
    every: Option<String>,
    /// Where --every writes heap.<pid>.<n>.pb.gz [default: the output's directory]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Serve /debug/pprof/ from inside the program on this loopback address
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,
    /// Forked children (and programs they start) write <output stem>.<pid>.pb.gz
    #[arg(long)]
    follow_fork: bool,
    /// Programs the program execs do not inherit the library
    #[arg(long)]
    no_follow_exec: bool,
    /// The program and its arguments
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
    command: Vec<OsString>,
}

pub fn run(args: &Args) -> Result<()> {
    if let Some(rate) = &args.rate
        && parse_bytes(rate.as_bytes()).is_none()
    {
        return Err(bad("--rate", format!("{rate:?} is not a byte count (e.g. 524288, 512KiB, 64k, 1)")));
    }
    if let Some(every) = &args.every
        && parse_duration(every.as_bytes()).is_none()
    {
        return Err(bad("--every", format!("{every:?} is not a duration (e.g. 30s, 5m, 1h30m)")));
    }
    if let Some(addr) = &args.http {
        check_loopback(addr)?;
    }
    let library = find_library()?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    if args.output.as_os_str() == "-" {
        // The program's own output goes to stdout: the two would be mixed.
        return Err(bad(
            "-o",
            "the profile cannot go to stdout here (the program writes there); name a file",
        ));
    }
    // Absolute, because the program may change directory before it exits.
    let output = cwd.join(&args.output);
    if output.file_name().is_none() {
        return Err(bad("-o", format!("{} is not a file path", args.output.display())));
    }
    // Checked now: the library could only say so at the program's exit, the run wasted.
    if output.is_dir() {
        return Err(bad("-o", format!("{} is a directory", args.output.display())));
    }
    let output_dir = output.parent().unwrap_or(Path::new("/"));
    writable_dir(output_dir).map_err(|e| bad("-o", e))?;
    let dir = args.dir.as_ref().map(|d| cwd.join(d));
    if let Some(d) = &dir {
        std::fs::create_dir_all(d).map_err(|e| bad("--dir", format!("{}: {e}", d.display())))?;
        writable_dir(d).map_err(|e| bad("--dir", e))?;
    }

    let mut command = Command::new(&args.command[0]);
    command.args(&args.command[1..]);
    let mut preload = OsString::from(&library);
    if let Some(existing) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(existing);
    }
    command
        .env("LD_PRELOAD", preload)
        .env("HEAPPROF_OUTPUT", &output)
        .env("HEAPPROF_MAIN_PID", MAIN_PID_PLACEHOLDER)
        .env("HEAPPROF_FOLLOW_FORK", if args.follow_fork { "1" } else { "0" })
        .env("HEAPPROF_FOLLOW_EXEC", if args.no_follow_exec { "0" } else { "1" });
    for (var, value) in
        [("HEAPPROF_RATE", &args.rate), ("HEAPPROF_EVERY", &args.every), ("HEAPPROF_HTTP", &args.http)]
    {
        match value {
            Some(v) => command.env(var, v),
            None => command.env_remove(var),
        };
    }
    match &dir {
        Some(d) => command.env("HEAPPROF_DIR", d),
        None => command.env_remove("HEAPPROF_DIR"),
    };

    // Ctrl-C goes to the whole foreground group: let the program decide, and still report.
    let _ = ctrlc::set_handler(|| {});
    let places = Places::new(output, dir);
    let before = places.stamps();
    let program = args.command[0].to_string_lossy().into_owned();
    let status = command.status().map_err(|e| bad(&program, format!("cannot run: {e}")))?;

    report(&places, &before);
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    if code != 0 {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    Ok(())
}

/// `--http` must be a loopback address: the library refuses others, and would only
/// say so on the program's stderr.
fn check_loopback(addr: &str) -> Result<()> {
    let addrs: Vec<_> = addr
        .to_socket_addrs()
        .map_err(|e| bad("--http", format!("{addr:?} is not HOST:PORT ({e})")))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !a.ip().is_loopback()) {
        return Err(bad(
            "--http",
            format!("{addr} is not a loopback address (profiles expose the program's code)"),
        ));
    }
    Ok(())
}

/// `HEAPPROF_PRELOAD_LIB`, else the library next to this binary (where
/// `cargo build --release --workspace` puts both).
fn find_library() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(LIBRARY_VAR) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            return Err(bad(LIBRARY_VAR, format!("{} is not a file", path.display())));
        }
        return Ok(std::path::absolute(&path).unwrap_or(path));
    }
    let exe = std::env::current_exe().context("cannot find this binary's path")?;
    let beside = exe.with_file_name(LIBRARY);
    if beside.is_file() {
        return Ok(beside);
    }
    Err(bad(
        LIBRARY,
        format!(
            "not found next to {} (build it with cargo build --release -p heapprof-preload, or set {LIBRARY_VAR})",
            exe.display()
        ),
    ))
}

/// Where the run's profiles go: the exit profile, forked children's
/// `<stem>.<pid>.pb.gz` beside it, periodic `heap.<pid>.<n>.pb.gz`.
struct Places {
    output: PathBuf,
    output_dir: PathBuf,
    periodic_dir: PathBuf,
    stem: String,
}

impl Places {
    fn new(output: PathBuf, dir: Option<PathBuf>) -> Self {
        let output_dir = output.parent().unwrap_or(Path::new("/")).to_path_buf();
        let name = output.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let stem = name.strip_suffix(".pb.gz").unwrap_or(name).to_string();
        let periodic_dir = dir.unwrap_or_else(|| output_dir.clone());
        Places { output, output_dir, periodic_dir, stem }
    }

    fn children(&self) -> Vec<PathBuf> {
        files_in(&self.output_dir, |n| {
            n.strip_prefix(&self.stem)
                .and_then(|rest| rest.strip_prefix('.'))
                .map(|rest| rest.strip_suffix(".pb.gz").unwrap_or(rest))
                .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|c| c.is_ascii_digit()))
        })
    }

    fn periodic(&self) -> Vec<PathBuf> {
        files_in(&self.periodic_dir, |n| {
            n.starts_with("heap.") && n.ends_with(".pb.gz") && n.split('.').count() == 5
        })
    }

    /// What is at each of the places now: taken before the run, to compare after.
    /// A profile counts as this run's when nothing was at its path before the run or
    /// something else is now (the library renames a new file into place). Not a
    /// comparison with the clock: file systems stamp modification times with a coarse
    /// clock (a kernel tick), so a quick program's profile often looks older than a
    /// `SystemTime::now()` taken before it started.
    fn stamps(&self) -> BTreeMap<PathBuf, FileStamp> {
        std::iter::once(self.output.clone())
            .chain(self.children())
            .chain(self.periodic())
            .filter_map(|p| FileStamp::of(&p).map(|s| (p, s)))
            .collect()
    }
}

/// Whether the run wrote `path`: it exists and was not there, or not so, before.
fn fresh(path: &Path, before: &BTreeMap<PathBuf, FileStamp>) -> bool {
    FileStamp::of(path).is_some_and(|now| before.get(path) != Some(&now))
}

/// Files in `dir` whose names satisfy `wanted`, sorted.
fn files_in(dir: &Path, wanted: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&wanted))
        .collect();
    found.sort();
    found
}

/// Says where the profiles went (on stderr, so the program's stdout stays its
/// own) and prints the top 5 allocation sites of the exit profile.
fn report(places: &Places, before: &BTreeMap<PathBuf, FileStamp>) {
    let children: Vec<PathBuf> = places.children().into_iter().filter(|p| fresh(p, before)).collect();
    let periodic: Vec<PathBuf> = places.periodic().into_iter().filter(|p| fresh(p, before)).collect();
    for p in &children {
        eprintln!("heapprof: child profile {}", p.display());
    }
    if let (Some(first), Some(last)) = (periodic.first(), periodic.last()) {
        eprintln!("heapprof: {} periodic profiles, {} … {}", periodic.len(), first.display(), last.display());
    }
    let output = &places.output;
    if !fresh(output, before) {
        eprintln!(
            "heapprof: no profile at {}: the program did not return from main or call exit() (it used _exit, exec'd another program or was killed by a signal)",
            output.display()
        );
        return;
    }
    eprintln!("heapprof: profile written to {}", output.display());
    let spec = output.display().to_string();
    match top5(&spec) {
        Ok(text) => eprint!("{text}"),
        Err(e) => eprintln!("heapprof: {}", crate::error::one_line(&e)),
    }
}

fn top5(spec: &str) -> Result<String> {
    let profile = source::load(spec, None)?;
    let select = Selection {
        sample_index: Some("alloc_space".to_string()),
        focus: None,
        ignore: None,
        hide: None,
        show: None,
    };
    let report = report_of(spec, profile, &select)?;
    let top = report.top(&TopOptions {
        granularity: Granularity::Functions,
        trim: TrimOptions { node_fraction: 0.0, edge_fraction: 0.0, node_count: 5, cum_sort: false },
    });
    let mut text = String::new();
    top.write_text(&mut text)?;
    Ok(text)
}
