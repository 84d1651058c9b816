//! A `heapprof web` server for tests: started on a free port, its URL read
//! from its first line of output, stopped when dropped.
#![allow(dead_code)] // each test binary uses a part of it

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `heapprof web`, stopped when dropped.
pub struct Web {
    child: Child,
    /// `http://127.0.0.1:PORT/`
    pub base: String,
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `heapprof web ARGS` in `dir`.
pub fn start_in(dir: &Path, args: &[&str]) -> Web {
    let mut child = Command::new(env!("CARGO_BIN_EXE_heapprof"))
        .arg("web")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start heapprof web");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout).read_line(&mut line).expect("read the URL line");
    let base = line.trim().strip_prefix("heapprof: serving ").unwrap_or_else(|| panic!("URL line: {line:?}"));
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    Web { child, base: base.to_string() }
}
