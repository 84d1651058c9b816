//! Profile files: `heap_<reason>_<UTC time>.pb.gz`, written atomically (a
//! temporary file, then a rename: a crash never leaves a partial file under a
//! final name), with retention by count and bytes, oldest first.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use heapprof_profile::trend::{RetainedFile, profile_file_name, retention_victims, time_from_file_name};

/// The monitor's profile directory.
#[derive(Debug)]
pub(crate) struct DumpDir {
    dir: PathBuf,
    max_files: Option<usize>,
    max_bytes: Option<u64>,
    /// Whether the last write failed (failures after the first are logged
    /// quietly until a write succeeds again).
    failing: bool,
    cleaned_stale: bool,
}

/// What retention removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Removed {
    pub(crate) files: usize,
}

impl DumpDir {
    pub(crate) fn new(dir: PathBuf, max_files: Option<usize>, max_bytes: Option<u64>) -> Self {
        DumpDir { dir, max_files, max_bytes, failing: false, cleaned_stale: false }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `bytes` as the profile for `reason` taken at `unix_nanos`, then
    /// applies retention. The error is one line naming the file.
    pub(crate) fn write(
        &mut self,
        reason: &str,
        unix_nanos: u64,
        bytes: &[u8],
    ) -> Result<(PathBuf, Removed), String> {
        let result = self.try_write(reason, unix_nanos, bytes);
        match &result {
            Ok((path, _)) => {
                if std::mem::replace(&mut self.failing, false) {
                    log::info!(target: "heapprof::monitor", "profiles are being written again ({})", path.display());
                }
            }
            Err(e) if !self.failing => {
                self.failing = true;
                log::error!(target: "heapprof::monitor", "{e}; the monitor keeps running, and further failures are counted and logged at debug level until a write succeeds");
            }
            Err(e) => log::debug!(target: "heapprof::monitor", "{e}"),
        }
        result
    }

    fn try_write(
        &mut self,
        reason: &str,
        unix_nanos: u64,
        bytes: &[u8],
    ) -> Result<(PathBuf, Removed), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create profile directory {}: {e}", self.dir.display()))?;
        let mut removed = Removed::default();
        if !self.cleaned_stale {
            self.cleaned_stale = true;
            removed.files += remove_stale_temporaries(&self.dir);
        }
        let path = self.unused_name(reason, unix_nanos);
        crate::write_atomically(&path, bytes).map_err(|e| e.to_string())?;
        removed.files += self.apply_retention(&path);
        Ok((path, removed))
    }

    /// The file name for this dump, with `-1`, `-2`… when the millisecond is taken.
    fn unused_name(&self, reason: &str, unix_nanos: u64) -> PathBuf {
        let name = profile_file_name(reason, unix_nanos.min(i64::MAX as u64) as i64);
        let mut path = self.dir.join(&name);
        let stem = name.trim_end_matches(".pb.gz");
        let mut n = 1;
        while path.exists() {
            path = self.dir.join(format!("{stem}-{n}.pb.gz"));
            n += 1;
        }
        path
    }

    /// Removes the oldest `heap_*.pb.gz` files until the directory is within
    /// its limits; `keep` (the file just written) is never removed.
    fn apply_retention(&self, keep: &Path) -> usize {
        if self.max_files.is_none() && self.max_bytes.is_none() {
            return 0;
        }
        let (paths, files) = profile_files(&self.dir);
        let mut removed = 0;
        for i in retention_victims(&files, self.max_files, self.max_bytes) {
            if paths[i] == keep {
                continue;
            }
            match std::fs::remove_file(&paths[i]) {
                Ok(()) => removed += 1,
                Err(e) => {
                    log::debug!(target: "heapprof::monitor", "cannot remove {}: {e}", paths[i].display())
                }
            }
        }
        removed
    }
}

/// The `heap_*.pb.gz` files of a directory (not the hidden temporaries), with
/// their times: from the name, else the modification time.
fn profile_files(dir: &Path) -> (Vec<PathBuf>, Vec<RetainedFile>) {
    let (mut paths, mut files) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (paths, files);
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with("heap_") || !name.ends_with(".pb.gz") {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let time_nanos = time_from_file_name(name).unwrap_or_else(|| {
            meta.modified()
                .ok()
                .and_then(|m| m.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
        });
        paths.push(entry.path());
        files.push(RetainedFile { time_nanos, name: name.to_string(), bytes: meta.len() });
    }
    (paths, files)
}

/// Removes temporaries (`.heap_….pb.gz.tmp.<pid>.<n>`) left by processes that
/// died while writing: their pid no longer runs. Returns how many went.
fn remove_stale_temporaries(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = temporary_owner(name) else {
            continue;
        };
        let alive = Path::new("/proc").join(pid.to_string()).exists();
        if pid != std::process::id() && !alive && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The pid in a temporary's name written by `write_atomically` for one of our
/// profiles, if it is one.
fn temporary_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(".heap_")?;
    let (_, tail) = rest.split_once(".pb.gz.tmp.")?;
    let (pid, _) = tail.split_once('.')?;
    pid.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_are_recognised_by_name() {
        assert_eq!(temporary_owner(".heap_new_peak_20240101T000000.000Z.pb.gz.tmp.4242.17"), Some(4242));
        assert_eq!(temporary_owner("heap_new_peak_x.pb.gz"), None);
        assert_eq!(temporary_owner(".other.pb.gz.tmp.1.2"), None);
        assert_eq!(temporary_owner(".heap_x.pb.gz.tmp.notapid.2"), None);
    }

    #[test]
    fn retention_keeps_the_newest_within_count_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = DumpDir::new(dir.path().to_path_buf(), Some(3), None);
        let t0 = 1_700_000_000_000_000_000u64;
        for i in 0..6u64 {
            d.write("new_peak", t0 + i * 1_000_000_000, &[0u8; 100]).unwrap();
        }
        let mut names: Vec<String> = profile_files(dir.path()).1.into_iter().map(|f| f.name).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "heap_new_peak_20231114T221323.000Z.pb.gz",
                "heap_new_peak_20231114T221324.000Z.pb.gz",
                "heap_new_peak_20231114T221325.000Z.pb.gz"
            ]
        );

        let mut by_bytes = DumpDir::new(dir.path().to_path_buf(), None, Some(250));
        let (path, removed) = by_bytes.write("potential_leak", t0 + 10_000_000_000, &[0u8; 100]).unwrap();
        assert_eq!(removed.files, 2);
        assert_eq!(profile_files(dir.path()).0.len(), 2);
        assert!(path.exists());
    }

    #[test]
    fn one_millisecond_gives_distinct_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = DumpDir::new(dir.path().to_path_buf(), None, None);
        let (a, _) = d.write("new_peak", 5_000_000, b"a").unwrap();
        let (b, _) = d.write("new_peak", 5_000_000, b"b").unwrap();
        assert_ne!(a, b);
        assert!(b.to_string_lossy().ends_with("-1.pb.gz"));
    }

    #[test]
    fn stale_temporaries_of_dead_processes_go() {
        let dir = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22: this pid cannot be running.
        let stale = dir.path().join(".heap_x_20240101T000000.000Z.pb.gz.tmp.99999999.1");
        let ours = dir.path().join(format!(".heap_y.pb.gz.tmp.{}.1", std::process::id()));
        std::fs::write(&stale, b"partial").unwrap();
        std::fs::write(&ours, b"in progress").unwrap();
        let mut d = DumpDir::new(dir.path().to_path_buf(), None, None);
        let (_, removed) = d.write("new_peak", 1, b"x").unwrap();
        assert_eq!(removed.files, 1);
        assert!(!stale.exists() && ours.exists());
    }
}
