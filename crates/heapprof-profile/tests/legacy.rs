//! Legacy text heap profiles: read against pprof's own goldens and Go's output, written
//! back as Go's `?debug=1` text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use heapprof_profile::{Error, Profile, decode, merge, parse_legacy, write_legacy_heap};

fn corpus(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus").join(rel)
}

fn read(rel: &str) -> Vec<u8> {
    let path = corpus(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// pprof's `Profile.String()`. `columns`: newer pprof prints `file:line:column`, Go
/// 1.19's vendored copy `file:line`. `lines`: print the functions of locations.
fn render(p: &Profile, columns: bool, lines: bool) -> String {
    let s = |i: i64| p.str(i);
    let mut out: Vec<String> = p.comment.iter().map(|&c| format!("Comment: {}", s(c))).collect();
    if p.doc_url != 0 {
        out.push(format!("Doc: {}", s(p.doc_url)));
    }
    if let Some(pt) = p.period_type {
        out.push(format!("PeriodType: {} {}", s(pt.r#type), s(pt.unit)));
    }
    out.push(format!("Period: {}", p.period));
    assert_eq!(p.time_nanos, 0, "the renderer does not print times");
    assert_eq!(p.duration_nanos, 0, "the renderer does not print durations");
    out.push("Samples:".into());
    let types: Vec<String> = p
        .sample_type
        .iter()
        .map(|t| {
            let dflt =
                if p.default_sample_type != 0 && t.r#type == p.default_sample_type { "[dflt]" } else { "" };
            format!("{}/{}{dflt}", s(t.r#type), s(t.unit))
        })
        .collect();
    out.push(types.join(" "));
    for sample in &p.sample {
        let mut line = String::new();
        for v in &sample.value {
            write!(line, " {v:10}").unwrap();
        }
        line.push_str(": ");
        for id in &sample.location_id {
            write!(line, "{id} ").unwrap();
        }
        out.push(line);
        let header = " ".repeat(16);
        let mut strs: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut nums: BTreeMap<&str, Vec<(i64, &str)>> = BTreeMap::new();
        for l in &sample.label {
            if l.str != 0 {
                strs.entry(s(l.key)).or_default().push(s(l.str));
            } else {
                nums.entry(s(l.key)).or_default().push((l.num, s(l.num_unit)));
            }
        }
        if !strs.is_empty() {
            let mut ls: Vec<String> = strs.iter().map(|(k, v)| format!("{k}:[{}]", v.join(" "))).collect();
            ls.sort();
            out.push(format!("{header}{}", ls.join(" ")));
        }
        if !nums.is_empty() {
            let mut ls: Vec<String> = nums
                .iter()
                .map(|(k, v)| {
                    let with_units = v.iter().any(|(_, u)| !u.is_empty());
                    let vals: Vec<String> = v
                        .iter()
                        .map(|(n, u)| if with_units { format!("{n} {u}") } else { n.to_string() })
                        .collect();
                    format!("{k}:[{}]", vals.join(" "))
                })
                .collect();
            ls.sort();
            out.push(format!("{header}{}", ls.join(" ")));
        }
    }
    out.push("Locations".into());
    for l in &p.location {
        let mut loc = format!("{:6}: {:#x} ", l.id, l.address);
        if l.mapping_id != 0 {
            write!(loc, "M={} ", l.mapping_id).unwrap();
        }
        if l.is_folded {
            loc.push_str("[F] ");
        }
        if l.line.is_empty() || !lines {
            out.push(loc);
            continue;
        }
        for line in &l.line {
            let f = p.function.iter().find(|f| f.id == line.function_id).unwrap();
            let mut text = if columns {
                format!("{} {}:{}:{} s={}", s(f.name), s(f.filename), line.line, line.column, f.start_line)
            } else {
                format!("{} {}:{} s={}", s(f.name), s(f.filename), line.line, f.start_line)
            };
            if f.name != f.system_name && s(f.name) != s(f.system_name) {
                write!(text, "({})", s(f.system_name)).unwrap();
            }
            out.push(format!("{loc}{text}"));
            loc = " ".repeat(13);
        }
    }
    out.push("Mappings".into());
    for m in &p.mapping {
        let mut bits = String::new();
        for (on, b) in [
            (m.has_functions, "[FN]"),
            (m.has_filenames, "[FL]"),
            (m.has_line_numbers, "[LN]"),
            (m.has_inline_frames, "[IN]"),
        ] {
            if on {
                bits.push_str(b);
            }
        }
        out.push(format!(
            "{}: {:#x}/{:#x}/{:#x} {} {} {bits}",
            m.id,
            m.memory_start,
            m.memory_limit,
            m.file_offset,
            s(m.filename),
            s(m.build_id)
        ));
    }
    out.join("\n") + "\n"
}

fn assert_same_text(want: &str, got: &str, what: &str) {
    if want == got {
        return;
    }
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        assert_eq!(w, g, "{what}: first difference at line {}", i + 1);
    }
    assert_eq!(want.lines().count(), got.lines().count(), "{what}: line counts differ");
    assert_eq!(want, got, "{what}");
}

#[test]
fn pprof_testdata_matches_pprof_goldens() {
    for name in ["gobench.heap", "cppbench.heap", "cppbench.growth", "java.heap"] {
        let text = read(&format!("pprof-testdata/{name}"));
        let golden = String::from_utf8(read(&format!("pprof-testdata/{name}.string"))).unwrap();
        let p = parse_legacy(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_text(&golden, &render(&p, true, true), name);
        // The protobuf entry point falls back to the legacy parser.
        assert_eq!(decode(&text).unwrap(), p, "{name} through decode");
    }
}

#[test]
fn gobench_heap_values_and_addresses() {
    let p = parse_legacy(&read("pprof-testdata/gobench.heap")).unwrap();
    let types: Vec<_> = p.sample_type.iter().map(|t| (p.str(t.r#type), p.str(t.unit))).collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
    );
    // `heap/1048576` is twice Go's sampling rate.
    assert_eq!(p.period, 524_288);
    let pt = p.period_type.unwrap();
    assert_eq!((p.str(pt.r#type), p.str(pt.unit)), ("space", "bytes"));
    // `1: 524288 [3: 1572864]`, unbiased at 512 KiB: 1/(1-e^-1) = 1.582.
    assert_eq!(p.sample[0].value, vec![4, 2_488_234, 1, 829_411]);
    // Return addresses moved back onto the call.
    assert_eq!(p.location[0].address, 0x420cee);
    assert_eq!(p.mapping.len(), 1);
    assert_eq!((p.mapping[0].memory_start, p.mapping[0].memory_limit), (0, u64::MAX));
    assert!(p.str(p.drop_frames).contains("runtime\\..*"));
}

#[test]
fn cppbench_heap_mappings() {
    let p = parse_legacy(&read("pprof-testdata/cppbench.heap")).unwrap();
    assert_eq!(p.period, 524_288);
    assert_eq!(p.mapping.len(), 12);
    let m = &p.mapping[0];
    // `source=/home` substituted into `$source/cppbench_server_main`.
    assert_eq!(p.str(m.filename), "/home/cppbench_server_main");
    assert_eq!((m.memory_start, m.memory_limit, m.file_offset), (0x400000, 0xfcb000, 0));
    assert_eq!(p.str(p.mapping[11].filename), "[vsyscall]");
}

/// Sums of each sample type.
fn totals(p: &Profile) -> Vec<i64> {
    let mut t = vec![0; p.sample_type.len()];
    for s in &p.sample {
        for (t, v) in t.iter_mut().zip(&s.value) {
            *t += v;
        }
    }
    t
}

/// The function names of a sample's frames.
fn frame_names(p: &Profile, s: &heapprof_profile::Sample) -> Vec<String> {
    let mut names = Vec::new();
    for id in &s.location_id {
        let l = p.location.iter().find(|l| l.id == *id).unwrap();
        for ln in &l.line {
            let f = p.function.iter().find(|f| f.id == ln.function_id).unwrap();
            names.push(p.str(f.name).to_owned());
        }
    }
    names
}

#[test]
fn go_debug1_agrees_with_go_protobuf() {
    for dir in ["default", "rate1"] {
        let text = parse_legacy(&read(&format!("go-heap/{dir}/full.debug1.txt"))).unwrap();
        let pb = decode(&read(&format!("go-heap/{dir}/full.pb.gz"))).unwrap();
        assert_eq!(text.period, pb.period, "{dir}");
        // Go's runtime unbiases its protobuf record by record with the same formula and
        // rate, so every protobuf sample has a text record with the very same values.
        let mut unmatched: Vec<&heapprof_profile::Sample> = text.sample.iter().collect();
        for s in &pb.sample {
            let i = unmatched
                .iter()
                .position(|t| t.value == s.value)
                .unwrap_or_else(|| panic!("{dir}: no text record with values {:?}", s.value));
            unmatched.remove(i);
        }
        // The text was taken just after the protobuf was written: its extra records are
        // what was allocated in between, mostly by the protobuf writer itself (gzip,
        // the profile builder), a small share of the totals.
        let extra_bytes: i64 = unmatched.iter().map(|t| t.value[1]).sum();
        let (tt, pt) = (totals(&text), totals(&pb));
        assert_eq!(tt[1] - pt[1], extra_bytes, "{dir}");
        assert!(extra_bytes * 100 < pt[1], "{dir}: {extra_bytes} extra bytes");
        assert!((tt[3] - pt[3]).abs() * 1000 < pt[3], "{dir}: in-use {tt:?} vs {pt:?}");
        if dir == "default" {
            // At 512 KiB sampling only two of the writer's gzip buffers were sampled.
            assert_eq!(tt[2..], pt[2..], "{dir}");
            for t in &unmatched {
                let names = frame_names(&text, t);
                assert!(names.iter().any(|n| n.starts_with("compress/")), "{dir}: {names:?}");
            }
        }
    }
}

#[test]
fn go_debug1_symbols_become_functions() {
    let p = parse_legacy(&read("go-heap/default/full.debug1.txt")).unwrap();
    let loc = p.location.iter().find(|l| l.address == 0x4c6690).unwrap();
    assert_eq!(loc.line.len(), 1);
    let f = p.function.iter().find(|f| f.id == loc.line[0].function_id).unwrap();
    assert_eq!(
        (p.str(f.name), p.str(f.filename), loc.line[0].line),
        ("main.bigBuffers", "heapcorpus/main.go", 41)
    );
    // Leaf runtime frames have no `#` line in Go's output.
    let unnamed = p.location.iter().filter(|l| l.line.is_empty()).count();
    assert!(unnamed > 0 && unnamed < p.location.len());
}

/// Whether `go` can be run; in CI its absence fails the test.
fn have_go() -> bool {
    match Command::new("go").arg("version").output() {
        Ok(o) if o.status.success() => true,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("`go` is required in CI (Debian package golang-go)")
        }
        _ => {
            eprintln!("skipped: `go` is not installed (Debian package golang-go)");
            false
        }
    }
}

fn go_pprof_raw(path: &Path) -> String {
    let out =
        Command::new("go").args(["tool", "pprof", "-raw"]).arg(path).output().expect("run go tool pprof");
    assert!(
        out.status.success(),
        "go tool pprof -raw {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn go_tool_pprof_reads_go_debug1_as_we_do() {
    if !have_go() {
        return;
    }
    for dir in ["default", "rate1"] {
        let rel = format!("go-heap/{dir}/full.debug1.txt");
        // The pprof driver merges what it reads (which drops all-zero samples).
        let mut p = merge(&[parse_legacy(&read(&rel)).unwrap()]).unwrap();
        // pprof ignores Go's `#` symbol lines, which we read.
        for m in &mut p.mapping {
            m.has_functions = false;
            m.has_filenames = false;
            m.has_line_numbers = false;
        }
        let go = go_pprof_raw(&corpus(&rel));
        assert_same_text(&go, &render(&p, false, false), &rel);
    }
}

/// (stack addresses, values) of every sample, sorted.
fn stacks(p: &Profile) -> Vec<(Vec<u64>, Vec<i64>)> {
    let mut v: Vec<_> = p
        .sample
        .iter()
        .map(|s| {
            let addrs = s
                .location_id
                .iter()
                .map(|id| p.location.iter().find(|l| l.id == *id).unwrap().address)
                .collect();
            (addrs, s.value.clone())
        })
        .collect();
    v.sort();
    v
}

fn to_text(p: &Profile) -> Vec<u8> {
    let mut out = Vec::new();
    write_legacy_heap(p, &mut out).unwrap();
    out
}

#[test]
fn written_text_reads_back_the_same() {
    for rel in [
        "go-heap/default/full.pb.gz",
        "go-heap/default/cache.pb.gz",
        "go-heap/rate1/full.pb.gz",
        "go-heap/default/full.debug1.txt",
        "pprof-testdata/gobench.heap",
    ] {
        let p = decode(&read(rel)).unwrap();
        let text = to_text(&p);
        let back = parse_legacy(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(back.period, p.period, "{rel}");
        assert_eq!(back.sample_type.len(), 4, "{rel}");
        assert_eq!(stacks(&back), stacks(&p), "{rel}");
        // Deterministic: the same profile gives the same bytes.
        assert_eq!(to_text(&p), text, "{rel}");
    }
}

#[test]
fn written_text_keeps_function_names() {
    let p = decode(&read("go-heap/default/full.pb.gz")).unwrap();
    let text = to_text(&p);
    let s = String::from_utf8(text.clone()).unwrap();
    assert!(s.starts_with("heap profile: "), "{s}");
    assert!(s.lines().next().unwrap().ends_with("@ heap/1048576"));
    assert!(s.contains("#\t0x4c6690\tmain.bigBuffers\theapcorpus/main.go:41\n"), "{s}");
    let back = parse_legacy(&text).unwrap();
    let name = |p: &Profile, addr: u64| -> Vec<String> {
        let l = p.location.iter().find(|l| l.address == addr).unwrap();
        l.line
            .iter()
            .map(|ln| {
                let f = p.function.iter().find(|f| f.id == ln.function_id).unwrap();
                format!("{} {}:{}", p.str(f.name), p.str(f.filename), ln.line)
            })
            .collect()
    };
    // An inlined call: two functions at one address, innermost first.
    assert_eq!(name(&back, 0x4a553b), name(&p, 0x4a553b));
    assert_eq!(name(&back, 0x4a553b).len(), 2);
}

#[test]
fn go_tool_pprof_reads_written_text() {
    if !have_go() {
        return;
    }
    let p = decode(&read("go-heap/default/full.pb.gz")).unwrap();
    let path = std::env::temp_dir().join(format!("heapprof-legacy-{}.txt", std::process::id()));
    std::fs::write(&path, to_text(&p)).unwrap();
    let raw = go_pprof_raw(&path);
    let _ = std::fs::remove_file(&path);
    // pprof reads the same values back: compare its sample lines with ours.
    let ours = parse_legacy(&to_text(&p)).unwrap();
    let values = |text: &str| -> Vec<String> {
        let mut v: Vec<String> = text
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(vals, _)| vals.trim().to_owned()))
            .filter(|v| {
                v.split_whitespace().count() == 4 && v.split_whitespace().all(|n| n.parse::<i64>().is_ok())
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(values(&raw), values(&render(&ours, false, false)));
    assert!(!values(&raw).is_empty());
}

#[test]
fn gperftools_heapprofile_is_not_rescaled() {
    let text = b"heap profile:    2:   200 [   3:   300] @ heapprofile\n\
                 2: 200 [3: 300] @ 0x401001 0x402002\n\
                 \n\
                 MAPPED_LIBRARIES:\n\
                 00400000-00500000 r-xp 00000000 08:01 1234 /usr/bin/app\n\
                 00500000-00600000 rw-p 00100000 08:01 1234 /usr/bin/app\n";
    let p = parse_legacy(text).unwrap();
    assert_eq!(p.period, 1);
    assert_eq!(p.sample[0].value, vec![3, 300, 2, 200]);
    assert_eq!(p.mapping.len(), 1);
    assert_eq!(p.str(p.mapping[0].filename), "/usr/bin/app");
    assert_eq!(p.location[0].mapping_id, 1);
    assert_eq!(p.location[1].address, 0x402001);
}

#[test]
fn heap_v2_unbiases_with_the_given_rate() {
    let text = b"heap profile: 1: 1024 [1: 1024] @ heap_v2/1024\n1: 1024 [1: 1024] @ 0x10\n";
    let p = parse_legacy(text).unwrap();
    // 1/(1-e^-1) = 1.582; alloc equal to inuse: one pair of sample types.
    assert_eq!(p.sample_type.len(), 2);
    assert_eq!(p.sample[0].value, vec![1, 1619]);
}

#[test]
fn jemalloc_heap_v2() {
    let text = b"heap_v2/524288\n  t*: 3: 300 [0: 0]\n  t0: 3: 300 [0: 0]\n\
                 @ 0x1001 0x2001\n  t*: 2: 200 [0: 0]\n  t10: 1: 100 [0: 0]\n  t2: 1: 100 [0: 0]\n\
                 @ 0x1001 0x3001\n  t*: 1: 1048576 [0: 0]\n  t5: 1: 1048576 [0: 0]\n\
                 MAPPED_LIBRARIES:\n00001000-00004000 r-xp 00000000 00:00 0 /bin/app\n";
    let p = parse_legacy(text).unwrap();
    let rendered = render(&p, true, true);
    // Threads in text order ("10" < "2"); the last stack is kept (pprof drops it).
    assert_eq!(p.sample.len(), 3, "{rendered}");
    assert!(rendered.contains("thread:[10]\n                bytes:[100]"), "{rendered}");
    let last = &p.sample[2];
    // 1 MiB at 512 KiB: 1/(1-e^-2) = 1.1565.
    assert_eq!(last.value, vec![1, 1_212_696], "{rendered}");
    assert_eq!(p.str(p.mapping[0].filename), "/bin/app");
}

fn legacy_err(text: &[u8]) -> (usize, String) {
    match parse_legacy(text) {
        Err(Error::Legacy { line, message }) => (line, message),
        other => panic!("expected a legacy error, got {other:?}"),
    }
}

#[test]
fn garbage_names_the_line() {
    let (line, msg) = legacy_err(b"heap profile: 1: 2 [3: 4] @ heap/8\n1: 2 [3: 4] @ 0x1\nnot a record\n");
    assert_eq!(line, 3);
    assert!(msg.contains("not a heap profile record") && msg.contains("not a record"), "{msg}");
    let (line, msg) = legacy_err(b"heap profile: 1: 2 [3: 4] @ heap/8\n0: 2 [3: 4] @ 0x1\n");
    assert_eq!(line, 2);
    assert!(msg.contains("in-use count is 0 but in-use bytes is 2"), "{msg}");
    let (line, msg) = legacy_err(b"heap profile: 1: 2 [3: 4] @ heap/8\n1: 2 [3: 4] @ 0x10000000000000000\n");
    assert_eq!(line, 2);
    assert!(msg.contains("does not fit in 64 bits"), "{msg}");
    let (line, msg) =
        legacy_err(b"heap profile: 1: 2 [3: 4] @ heap/8\n99999999999999999999: 2 [3: 4] @ 0x1\n");
    assert_eq!(line, 2);
    assert!(msg.contains("99999999999999999999"), "{msg}");
    let (line, msg) = legacy_err(b"heap profile: 1: 2 [3: 4] @ heapz/8\n");
    assert_eq!(line, 1);
    assert!(msg.contains("heapz"), "{msg}");
    let (_, msg) = legacy_err(b"goroutine profile: total 3\n3 @ 0x1 0x2\n");
    assert!(msg.contains("not supported"), "{msg}");
    let (_, msg) = legacy_err(b"hello world\n");
    assert!(msg.contains("unrecognised profile format"), "{msg}");
    let (line, msg) = legacy_err(b"--- heapz 1 ---\nformat = java\nresolution = bytes\n10 0 @ 0x1\n");
    assert_eq!(line, 4);
    assert!(msg.contains("object count of 0"), "{msg}");
    for e in [
        parse_legacy(b"heap profile: 1: 2 [3: 4] @ heap/8\n\x00\xff\x01 @@@\n").unwrap_err(),
        parse_legacy(b"").unwrap_err(),
    ] {
        assert_eq!(e.to_string().lines().count(), 1, "{e}");
    }
}

#[test]
fn extreme_values_write_without_overflow() {
    // Values near i64::MAX: inverting the unbiasing must not overflow.
    let text = b"heap profile: 1: 1 [9223372036854775807: 9223372036854775807] @ heap/1048576\n\
                 1: 1 [9223372036854775807: 9223372036854775807] @ 0x10\n";
    let p = parse_legacy(text).unwrap();
    let mut out = Vec::new();
    if write_legacy_heap(&p, &mut out).is_ok() {
        parse_legacy(&out).unwrap();
    }
}

#[test]
fn gzipped_legacy_text_decodes() {
    let gz = {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&read("pprof-testdata/gobench.heap")).unwrap();
        gz.finish().unwrap()
    };
    assert_eq!(decode(&gz).unwrap(), parse_legacy(&read("pprof-testdata/gobench.heap")).unwrap());
}
