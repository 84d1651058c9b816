//! Runs the fuzz checks over files, without libFuzzer: a stable-toolchain harness for
//! the seed corpus and crash reproducers.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --no-default-features --bin replay -- [--target NAME] DIR_OR_FILE...`
//!
//! NAME is `decode` (the default), `http_head`, `http_query` or `trend`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> =
            std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
        entries.sort();
        for e in entries {
            files(&e, out)?;
        }
    } else {
        out.push(path.to_owned());
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let mut check: fn(&[u8]) = heapprof_fuzz::decode;
    if args.first().is_some_and(|a| a == "--target") {
        check = match args.get(1).and_then(|t| t.to_str()) {
            Some("decode") => heapprof_fuzz::decode,
            Some("http_head") => heapprof_fuzz::http_head,
            Some("http_query") => heapprof_fuzz::http_query,
            Some("trend") => heapprof_fuzz::trend,
            other => {
                let name = other.unwrap_or("(none)");
                eprintln!("unknown fuzz target {name}: want decode, http_head, http_query or trend");
                return ExitCode::from(2);
            }
        };
        args.drain(..2);
    }
    if args.is_empty() {
        eprintln!("usage: replay [--target decode|http_head|http_query|trend] DIR_OR_FILE...");
        return ExitCode::from(2);
    }
    let mut all = Vec::new();
    for a in &args {
        if let Err(e) = files(a, &mut all) {
            eprintln!("{}: {e}", a.display());
            return ExitCode::from(2);
        }
    }
    for f in &all {
        let data = match std::fs::read(f) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("{}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        eprintln!("{}", f.display());
        check(&data);
    }
    println!("replayed {} inputs", all.len());
    ExitCode::SUCCESS
}
