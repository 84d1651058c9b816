//! `alternating`'s cut-down sampler: it samples, follows every sampled block to its free,
//! and is refused with more than one thread.

use std::process::Command;

fn alternating(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_alternating")).args(args).output().unwrap()
}

#[test]
fn the_cut_down_sampler_frees_every_block_it_sampled() {
    let out = alternating(&["--rounds", "2", "--allocs", "20000", "--modes", "bare,minimal-off,minimal"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.contains(" blocks sampled, ")).expect(&stdout);
    let numbers: Vec<u64> = line.split(' ').filter_map(|w| w.parse().ok()).collect();
    let [samples, freed] = numbers[..] else { panic!("{line}") };
    // Three sampled phases (one unmeasured) of 20,000 blocks of 8 KiB on average: about 900
    // samples at one per 512 KiB.
    assert!((300..3000).contains(&samples), "{line}");
    assert_eq!(samples, freed, "{line}");
}

#[test]
fn the_cut_down_sampler_is_refused_with_two_threads() {
    let out = alternating(&["--threads", "2", "--modes", "bare,minimal"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("one thread only"), "{stderr}");
}
