//! Writing profiles: where they go, the periodic writer thread and the HTTP
//! endpoints. Everything here runs with sampling off on its thread, so the
//! library's own work never shows in the program's profile.

use std::path::{Path, PathBuf};
use std::time::Duration;

use heapprof::__preload as hooks;

use crate::lifecycle::is_main_process;
use crate::settings::{Settings, warn_parts};

fn pid() -> u32 {
    std::process::id()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The exit profile's path for this process: the output with `%p` replaced by
/// the pid; for a process other than the main one, with `.<pid>` before `.pb.gz`
/// unless `%p` already set it apart.
pub(crate) fn exit_path(settings: &Settings) -> PathBuf {
    let pattern = text(settings.output);
    let mut path = pattern.replace("%p", &pid().to_string());
    if !is_main_process() && !pattern.contains("%p") {
        path = match path.strip_suffix(".pb.gz") {
            Some(stem) => format!("{stem}.{}.pb.gz", pid()),
            None => format!("{path}.{}", pid()),
        };
    }
    PathBuf::from(path)
}

/// Says now, at start-up, if the exit profile cannot be written: a failure at exit
/// is reported too, but often unseen, as programs may close stderr in their own
/// exit handlers, which run before ours (coreutils' `close_stdout` does).
pub(crate) fn check_output(settings: &Settings) {
    let path = exit_path(settings);
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let problem = if path.is_dir() {
        format!("{} is a directory", path.display())
    } else if std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_symlink()) {
        // Written through the link: its own directory is not the one that matters.
        return;
    } else {
        match std::fs::metadata(dir) {
            Err(e) => format!("{}: {e}", dir.display()),
            Ok(m) if !m.is_dir() => format!("{} is not a directory", dir.display()),
            Ok(_) => match can_create_in(dir) {
                Ok(()) => return,
                Err(e) => format!("cannot create files in {}: {e}", dir.display()),
            },
        }
    };
    warn_parts(&[
        b"heapprof: HEAPPROF_OUTPUT=",
        settings.output,
        b": ",
        problem.as_bytes(),
        b"; the profile at exit will not be written unless that changes",
    ]);
}

/// Whether this process may create files in `dir`, asked without creating one (a
/// probe file would be seen by the program and whatever watches the directory).
fn can_create_in(dir: &Path) -> std::io::Result<()> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes())?;
    // SAFETY: a NUL-terminated path. AT_EACCESS: the effective ids, which `open` uses.
    let r = unsafe { libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::W_OK | libc::X_OK, libc::AT_EACCESS) };
    if r == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// Where periodic profiles go: `HEAPPROF_DIR`, else the exit profile's directory.
fn periodic_dir(settings: &Settings) -> PathBuf {
    match settings.dir {
        Some(d) => PathBuf::from(text(d)),
        None => exit_path(settings)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .into(),
    }
}

fn write(path: &Path) {
    // Written with sampling off on this thread (heapprof's own work never is sampled).
    if let Err(e) = heapprof::write_heap_profile(path) {
        warn_parts(&[b"heapprof: ", e.to_string().as_bytes()]);
    }
}

pub(crate) fn write_exit_profile(settings: &Settings) {
    hooks::quietly(|| {
        write(&exit_path(settings));
        // Under heavy lock contention (or without memory for metadata) a sample is
        // dropped rather than make the program wait: say so, since the totals then
        // fall short (at rate 1 they would otherwise be exact).
        let dropped = heapprof::stats().dropped_samples;
        if dropped > 0 {
            warn_parts(&[
                b"heapprof: ",
                dropped.to_string().as_bytes(),
                b" samples were dropped (contention or no memory); the profile undercounts by as many",
            ]);
        }
    });
}

/// Starts the periodic writer and the HTTP server, if asked for.
pub(crate) fn start_background(settings: &'static Settings) {
    start_periodic(settings);
    if let Some(addr) = settings.http.filter(|_| is_main_process()) {
        hooks::quietly(|| serve(addr));
    }
}

/// Starts the periodic writer, if asked for: at start-up, and in a forked child
/// (whose copy of the parent's writer thread did not survive the fork).
pub(crate) fn start_periodic(settings: &'static Settings) {
    let Some(every) = settings.every else { return };
    let spawned = std::thread::Builder::new()
        .name("heapprof-dump".into())
        .spawn(move || hooks::quietly(|| periodic(settings, every)));
    if let Err(e) = spawned {
        warn_parts(&[b"heapprof: cannot start the periodic writer: ", e.to_string().as_bytes()]);
    }
}

/// Writes `<dir>/heap.<pid>.<n>.pb.gz` every period, n = 1, 2, ... Each file is
/// written atomically, so those written before a crash or `_exit` are whole.
fn periodic(settings: &Settings, every: Duration) {
    let dir = periodic_dir(settings);
    if let Err(e) = std::fs::create_dir_all(&dir) {
        warn_parts(&[
            b"heapprof: HEAPPROF_DIR ",
            dir.as_os_str().as_encoded_bytes(),
            b": ",
            e.to_string().as_bytes(),
        ]);
        return;
    }
    for n in 1u64.. {
        std::thread::sleep(every);
        write(&dir.join(format!("heap.{}.{n:04}.pb.gz", pid())));
    }
}

fn serve(addr: &[u8]) {
    let addr = text(addr);
    match heapprof::http::serve(addr.trim()) {
        // The server runs until the process ends.
        Ok(server) => std::mem::forget(server),
        Err(e) => warn_parts(&[b"heapprof: HEAPPROF_HTTP: ", e.to_string().as_bytes(), b"; not serving"]),
    }
}
