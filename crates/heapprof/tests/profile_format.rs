//! The profile's shape: Go's sample types and period, `bytes` labels, mappings
//! with build ids, valid ids, deterministic encoding, atomic writes.

mod common;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

#[inline(never)]
fn format_site(kept: &mut Vec<Vec<u8>>) {
    for i in 0..100 {
        kept.push(vec![1u8; 1000 + i]);
    }
}

#[test]
fn profile_has_go_heap_shape() {
    heapprof::set_sample_rate(1);
    let mut kept = Vec::with_capacity(100);
    format_site(&mut kept);
    let p = heapprof::heap_profile();
    heapprof::pprof::validate(&p).expect("valid profile");
    let types: Vec<(&str, &str)> = p.sample_type.iter().map(|t| (p.str(t.r#type), p.str(t.unit))).collect();
    assert_eq!(
        types,
        [
            ("alloc_objects", "count"),
            ("alloc_space", "bytes"),
            ("inuse_objects", "count"),
            ("inuse_space", "bytes")
        ]
    );
    let period_type = p.period_type.expect("period type");
    assert_eq!((p.str(period_type.r#type), p.str(period_type.unit)), ("space", "bytes"));
    assert_eq!(p.period, 1);
    assert_eq!(p.string_table[0], "");
    assert!(p.time_nanos > 0);
    assert_eq!(p.default_sample_type, 0, "heap profiles leave the default unset, as Go does");
    for s in &p.sample {
        assert_eq!(s.label.len(), 1);
        assert_eq!(p.str(s.label[0].key), "bytes");
        assert!(s.label[0].num > 0);
    }
    // For the site allocated at rate 1 (other tests' records may come from the
    // default rate, scaled), the label is the average block size, rounded down.
    let site = p
        .sample
        .iter()
        .find(|s| {
            s.location_id.iter().any(|&id| {
                p.location[id as usize - 1]
                    .line
                    .iter()
                    .any(|l| p.str(p.function[l.function_id as usize - 1].name).ends_with("format_site"))
            })
        })
        .expect("a sample through format_site");
    let (objects, space, average) = (site.value[0], site.value[1], site.label[0].num);
    assert!(objects * average <= space && space < objects * (average + 1), "{objects} {space} {average}");
    let exe = std::env::current_exe().unwrap();
    // The executable comes first: pprof takes mapping 1 for the program (`File:`).
    let main_mapping = &p.mapping[0];
    assert_eq!(std::path::Path::new(p.str(main_mapping.filename)), exe, "mapping 1 is the test binary");
    assert_eq!(p.str(main_mapping.build_id).len(), 40, "GNU build id (sha1, hex)");
    assert!(p.location.iter().all(|l| l.mapping_id == 0 || p.mapping.iter().any(|m| m.id == l.mapping_id)));
    drop(kept);
}

#[test]
fn same_snapshot_encodes_to_same_bytes() {
    let snapshot = heapprof::snapshot();
    let a = heapprof::pprof::encode_gzip(&snapshot.to_profile());
    let b = heapprof::pprof::encode_gzip(&snapshot.to_profile());
    assert_eq!(a, b);
}

#[test]
fn write_is_atomic_and_errors_name_the_file() {
    let dir = common::scratch_dir("atomic");
    let path = dir.join("heap.pb.gz");
    heapprof::write_heap_profile(&path).expect("write");
    let bytes = std::fs::read(&path).unwrap();
    heapprof::pprof::decode(&bytes).expect("decodes");
    // A target that cannot be written: a directory stands where the file would go.
    let blocked = dir.join("blocked.pb.gz");
    std::fs::create_dir(&blocked).unwrap();
    let err = heapprof::write_heap_profile(&blocked).unwrap_err().to_string();
    assert!(err.contains("blocked.pb.gz") && !err.contains('\n'), "{err}");
    // A missing directory.
    let err = heapprof::write_heap_profile(dir.join("missing/heap.pb.gz")).unwrap_err().to_string();
    assert!(err.contains("missing/heap.pb.gz"), "{err}");
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.contains(".tmp.")), "{names:?}");
}
