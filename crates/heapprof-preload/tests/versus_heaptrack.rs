//! At rate 1, on a program not written here (Debian's python3 running a small
//! script), heapprof's allocation count and bytes equal heaptrack's for the same
//! run, once the allocations heaptrack's own presence causes are set aside.
//!
//! heaptrack's preload library brings libraries the program would not load
//! (libstdc++, libunwind, libgcc_s, …), and their initialisers allocate (libstdc++'s
//! 72 KiB emergency exception pool): those are the allocations whose stacks pass
//! through a module that is in heaptrack's run but not in ours. heaptrack reads its
//! totals from its own data file (`+` lines; sizes from `a` lines), which
//! `heaptrack_print` in Debian 12 does not print in bytes.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

/// One line: heaptrack's data file repeats the command line, and a line of a
/// multi-line script could read as a record.
const SCRIPT: &str = "import json, re; d = [{'k': i, 'v': str(i) * 3, 'l': list(range(i % 17))} for i in range(20000)]; \
s = json.dumps(d); words = re.findall(r'[0-9]+', s[:200000]); print(len(s), len(words))";

/// Totals of a heaptrack data file: (allocations, bytes) in all, and those whose
/// stack has a frame in a module whose file name is in `foreign`.
#[derive(Debug)]
struct HeaptrackTotals {
    allocs: i64,
    bytes: i64,
    foreign_allocs: i64,
    foreign_bytes: i64,
    modules: BTreeSet<String>,
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().map_or(path.to_string(), |n| n.to_string_lossy().into_owned())
}

/// Reads heaptrack's interpreted trace (see heaptrack's `heaptrack_interpret`):
/// `s` strings (1-based), `i` instruction pointers (`i ip module [fn file line]…`),
/// `t` trace nodes (`t ip parent`), `a` allocation infos (`a size trace`), `+`
/// allocations (`+ info`). Hex numbers throughout.
fn read_heaptrack(text: &str, foreign: &BTreeSet<String>) -> HeaptrackTotals {
    let hex = |s: &str| usize::from_str_radix(s, 16).unwrap_or_else(|_| panic!("bad hex {s:?}"));
    let mut strings = vec![String::new()];
    let mut ip_module = vec![0usize];
    let mut traces = vec![(0usize, 0usize)];
    let mut infos = Vec::new();
    let mut allocs = Vec::new();
    for line in text.lines() {
        let mut f = line.split(' ');
        match f.next() {
            Some("s") => {
                let _len = f.next();
                strings.push(f.collect::<Vec<_>>().join(" "));
            }
            Some("i") => {
                let _ip = f.next();
                ip_module.push(hex(f.next().unwrap()));
            }
            Some("t") => traces.push((hex(f.next().unwrap()), hex(f.next().unwrap()))),
            Some("a") => infos.push((hex(f.next().unwrap()) as i64, hex(f.next().unwrap()))),
            Some("+") => allocs.push(hex(f.next().unwrap())),
            _ => {}
        }
    }
    let modules: BTreeSet<String> =
        ip_module.iter().skip(1).map(|&m| file_name(&strings[m])).filter(|m| !m.is_empty()).collect();
    let foreign: BTreeSet<&String> = modules.iter().filter(|m| foreign.contains(*m)).collect();
    let mut t = HeaptrackTotals {
        allocs: 0,
        bytes: 0,
        foreign_allocs: 0,
        foreign_bytes: 0,
        modules: BTreeSet::new(),
    };
    for &info in &allocs {
        let (size, mut trace) = infos[info];
        t.allocs += 1;
        t.bytes += size;
        let mut is_foreign = false;
        while trace != 0 {
            let (ip, parent) = traces[trace];
            is_foreign |= foreign.contains(&file_name(&strings[ip_module[ip]]));
            trace = parent;
        }
        if is_foreign {
            t.foreign_allocs += 1;
            t.foreign_bytes += size;
        }
    }
    t.modules = foreign.into_iter().cloned().collect();
    t
}

/// File names of the libraries `path` links (ldd).
fn linked_libraries(path: &Path) -> BTreeSet<String> {
    let out = Command::new("ldd").arg(path).output().expect("ldd");
    text(&out.stdout).lines().filter_map(|l| l.split_whitespace().next()).map(file_name).collect()
}

#[test]
fn rate_1_totals_equal_heaptracks_on_python() {
    let Some(heaptrack) = require_tool("heaptrack") else { return };
    let Some(zstd) = require_tool("zstd") else { return };
    let Some(python) = debian_python() else { return };
    let dir = scratch("heaptrack");
    // The same environment for both runs, as far as the tools allow: Python's own
    // start-up depends on it (hash seed, locale, paths).
    let base_env = [("PYTHONHASHSEED", "0"), ("LC_ALL", "C"), ("PATH", "/usr/bin:/bin")];

    let out = {
        let (bin, lib) = binaries();
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path()).env_clear().envs(base_env).env("HEAPPROF_PRELOAD_LIB", lib);
        cmd.args(["run", "--rate", "1", "-o", "heapprof.pb.gz", "--"]).arg(python).args(["-c", SCRIPT]);
        run_bounded(&mut cmd, Duration::from_secs(120))
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let profile = read_profile(&dir.path().join("heapprof.pb.gz"));
    let (ours_allocs, ours_bytes) = all_totals(&profile);

    let mut cmd = Command::new(heaptrack);
    cmd.current_dir(dir.path()).env_clear().envs(base_env).arg("-o").arg(dir.path().join("ht"));
    cmd.arg(python).args(["-c", SCRIPT]);
    let ht = run_bounded(&mut cmd, Duration::from_secs(300));
    assert!(ht.status.success(), "{}\n{}", text(&ht.stdout), text(&ht.stderr));
    let program_line = text(&out.stdout).lines().next().unwrap_or_default().to_string();
    assert!(text(&ht.stdout).lines().any(|l| l == program_line), "same program output: {program_line:?}");
    let data = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with("ht.")
                && p.extension().is_some_and(|e| e == "zst")
        })
        .expect("heaptrack's data file ht.zst");
    let unpacked = Command::new(zstd).arg("-dc").arg(&data).output().expect("zstd");
    let trace = text(&unpacked.stdout);
    // What heaptrack's library links that the program does not. (Not heaptrack's
    // library itself: its `dlopen` wrapper is on the stack of the program's own
    // allocations made while loading extension modules.)
    let heaptrack_lib = trace
        .lines()
        .filter_map(|l| l.strip_prefix("s "))
        .filter_map(|l| l.split_once(' ').map(|(_, s)| s))
        .find(|s| s.ends_with("libheaptrack_preload.so"))
        .expect("heaptrack's preload library among its modules")
        .to_string();
    let program_libs = linked_libraries(python);
    let foreign: BTreeSet<String> =
        linked_libraries(Path::new(&heaptrack_lib)).difference(&program_libs).cloned().collect();
    let theirs = read_heaptrack(&trace, &foreign);

    let report = format!(
        "heapprof {ours_allocs} allocations, {ours_bytes} bytes; heaptrack {} allocations, {} bytes, of which {} allocations, {} bytes through modules only heaptrack loaded {:?}",
        theirs.allocs, theirs.bytes, theirs.foreign_allocs, theirs.foreign_bytes, theirs.modules
    );
    eprintln!("{report}");
    // What remains once heaptrack's own start-up is set aside must be equal (it was,
    // to the block and the byte, on the machine this was written on), but for a
    // residue of at most 0.1% in count and in bytes: each tool adds its own
    // environment variables, which Python copies at start-up, and a different
    // environment can cost Python's start-up a block or two (2 blocks of 52 bytes
    // were seen with unequal environments). Not a sampling error: at rate 1
    // nothing is estimated.
    let (allocs, bytes) = (theirs.allocs - theirs.foreign_allocs, theirs.bytes - theirs.foreign_bytes);
    assert!(theirs.foreign_allocs >= 1, "libstdc++'s exception pool should be heaptrack's: {report}");
    // Samples dropped under contention (reported by the library) are missing too.
    let dropped = dropped_samples(&text(&out.stderr));
    assert!((ours_allocs + dropped - allocs).abs() * 1000 <= allocs, "{report}, {dropped} dropped");
    assert!(
        (ours_bytes - bytes).abs() * 1000 <= bytes || dropped > 0 && ours_bytes < bytes,
        "{report}, {dropped} dropped"
    );
}
