//! Merging, scaling and subtracting profiles.

use std::path::Path;

use heapprof_profile::{
    Error, Line, Mapping, Profile, ProfileBuilder, Sample, decode, encode_raw, merge, scale, subtract,
};

fn corpus(rel: &str) -> Profile {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus").join(rel);
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn totals(p: &Profile) -> Vec<i64> {
    let mut t = vec![0; p.sample_type.len()];
    for s in &p.sample {
        for (t, v) in t.iter_mut().zip(&s.value) {
            *t += v;
        }
    }
    t
}

#[test]
fn merging_go_heap_profiles_adds_up() {
    for dir in ["default", "rate1"] {
        let cache = corpus(&format!("go-heap/{dir}/cache.pb.gz"));
        let full = corpus(&format!("go-heap/{dir}/full.pb.gz"));
        let merged = merge(&[cache.clone(), full.clone()]).unwrap();
        let want: Vec<i64> = totals(&cache).iter().zip(totals(&full)).map(|(a, b)| a + b).collect();
        assert_eq!(totals(&merged), want, "{dir}");
        assert_eq!(merged.sample_type.len(), 4);
        assert_eq!(merged.period, full.period);
        // One binary, one mapping; functions and locations shared, not repeated.
        assert_eq!(merged.mapping.len(), 1, "{dir}");
        assert!(merged.function.len() < cache.function.len() + full.function.len());
        assert!(merged.location.len() < cache.location.len() + full.location.len());
        let mut names: Vec<(&str, &str)> =
            merged.function.iter().map(|f| (merged.str(f.name), merged.str(f.filename))).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "{dir}: duplicate functions");
        // Deterministic to the byte, and valid.
        let again = merge(&[cache.clone(), full.clone()]).unwrap();
        assert_eq!(encode_raw(&again), encode_raw(&merged));
        decode(&encode_raw(&merged)).unwrap();
        // Both taken by one process: the earliest time, a duration spanning both.
        assert_eq!(merged.time_nanos, cache.time_nanos.min(full.time_nanos));
    }
}

#[test]
fn merging_a_profile_with_itself_doubles_it() {
    let full = corpus("go-heap/default/full.pb.gz");
    let merged = merge(&[full.clone(), full.clone()]).unwrap();
    assert_eq!(merged.sample.len(), full.sample.len());
    assert_eq!(merged.location.len(), full.location.len());
    assert_eq!(merged.function.len(), full.function.len());
    let doubled: Vec<i64> = totals(&full).iter().map(|t| 2 * t).collect();
    assert_eq!(totals(&merged), doubled);
    // Merging one profile compacts it and keeps its values.
    assert_eq!(totals(&merge(std::slice::from_ref(&full)).unwrap()), totals(&full));
}

#[test]
fn legacy_text_and_protobuf_merge() {
    let text = corpus("go-heap/default/full.debug1.txt");
    let pb = corpus("go-heap/default/full.pb.gz");
    let merged = merge(&[pb.clone(), text.clone()]).unwrap();
    let want: Vec<i64> = totals(&pb).iter().zip(totals(&text)).map(|(a, b)| a + b).collect();
    assert_eq!(totals(&merged), want);
}

#[test]
fn subtracting_the_cache_snapshot() {
    for dir in ["default", "rate1"] {
        let cache = corpus(&format!("go-heap/{dir}/cache.pb.gz"));
        let full = corpus(&format!("go-heap/{dir}/full.pb.gz"));
        let diff = subtract(&full, &cache).unwrap();
        let want: Vec<i64> = totals(&full).iter().zip(totals(&cache)).map(|(a, b)| a - b).collect();
        assert_eq!(totals(&diff), want, "{dir}");
        assert!(diff.sample.iter().all(|s| s.value.iter().any(|&v| v != 0)));
        // `go tool pprof -top -base cache.pb.gz full.pb.gz` shows the same total.
        let top = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("../../../shared/corpus/go-heap/{dir}/full-minus-cache.top.inuse_space.txt")),
        )
        .unwrap();
        let line = top.lines().nth(3).unwrap();
        let shown = line.split(" of ").nth(1).unwrap().trim_end_matches(" total");
        let unit = shown.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
        let number: f64 = shown[..shown.len() - unit.len()].parse().unwrap();
        let scale = match unit {
            "B" => 1.0,
            "kB" => 1024.0,
            "MB" => 1048576.0,
            "GB" => 1073741824.0,
            _ => panic!("{line}"),
        };
        assert!((number * scale - want[3] as f64).abs() <= scale / 100.0, "{dir}: {want:?} vs {line}");
    }
    // A profile minus itself is empty.
    let full = corpus("go-heap/default/full.pb.gz");
    let nothing = subtract(&full, &full).unwrap();
    assert!(nothing.sample.is_empty() && nothing.location.is_empty() && nothing.function.is_empty());
}

#[test]
fn incompatible_sample_types_are_named() {
    let heap = corpus("go-heap/default/full.pb.gz");
    let gperf = corpus("pprof-testdata/cppbench.heap");
    let e = merge(&[heap, gperf]).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, Error::Merge(_)), "{text}");
    assert!(text.contains("alloc_objects/count") && text.contains("objects/count"), "{text}");
    assert!(!text.contains('\n'));
    let e = merge(&[]).unwrap_err();
    assert!(e.to_string().contains("no profiles"), "{e}");
}

fn tiny(time: i64, duration: i64, period: i64, start: u64, value: i64) -> Profile {
    let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
    let file = b.intern("/bin/app");
    let m = b.add_mapping(Mapping {
        memory_start: start,
        memory_limit: start + 0x10_0000,
        filename: file,
        ..Mapping::default()
    });
    let f = b.function("main", "main", "main.rs", 1);
    let loc = b.add_location(m, start + 0x1234, vec![Line { function_id: f, line: 3, column: 0 }]);
    let p = b.profile_mut();
    p.sample.push(Sample { location_id: vec![loc], value: vec![value], label: vec![] });
    p.time_nanos = time;
    p.duration_nanos = duration;
    p.period = period;
    b.finish()
}

#[test]
fn headers_and_relocated_binaries() {
    // The same binary loaded at another address in the second process.
    let a = tiny(1_000, 100, 512, 0x40_0000, 5);
    let b = tiny(500, 100, 1024, 0x7f00_0000_0000, 7);
    let m = merge(&[a, b]).unwrap();
    assert_eq!(m.time_nanos, 500);
    assert_eq!(m.duration_nanos, 600, "from 500 to 1100");
    assert_eq!(m.period, 512, "the first profile's");
    assert_eq!(m.mapping.len(), 1);
    assert_eq!(m.location.len(), 1);
    assert_eq!(m.location[0].address, 0x40_1234);
    assert_eq!(m.sample.len(), 1);
    assert_eq!(m.sample[0].value, vec![12]);
}

#[test]
fn labels_keep_samples_apart() {
    let mut a = tiny(0, 0, 1, 0x1000, 1);
    let key = a.string_table.len() as i64;
    a.string_table.push("bytes".into());
    let mut b = a.clone();
    a.sample[0].label.push(heapprof_profile::Label { key, num: 16, ..Default::default() });
    b.sample[0].label.push(heapprof_profile::Label { key, num: 32, ..Default::default() });
    let m = merge(&[a.clone(), b, a]).unwrap();
    assert_eq!(m.sample.len(), 2);
    assert_eq!(m.sample[0].value, vec![2]);
    assert_eq!(m.sample[1].value, vec![1]);
    // Without times, durations add up.
    assert_eq!(m.duration_nanos, 0);
}

#[test]
fn scaling_rounds_and_drops_zeros() {
    let mut p = corpus("go-heap/default/full.pb.gz");
    let before = p.sample.len();
    let t = totals(&p);
    scale(&mut p, 0.5);
    assert_eq!(p.sample.len(), before);
    for (half, full) in totals(&p).iter().zip(&t) {
        assert!((half * 2 - full).abs() <= before as i64, "{half} {full}");
    }
    scale(&mut p, 1.0);
    scale(&mut p, 0.0);
    assert!(p.sample.is_empty());
}
