//! The exact statistics across threads: the peak of live bytes is exact to within
//! `FLUSH_BYTES` per thread, also when one thread frees what another allocated (a
//! thread that only frees must fold its frees too, or the global live count would
//! climb with every block passed on); and a forked child counts on from its parent's
//! totals, with the threads that did not follow it out of the registry before its
//! own new threads reuse their stacks.

use std::sync::Mutex;
use std::sync::mpsc::{channel, sync_channel};

use heapprof::FLUSH_BYTES;

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

const BLOCK: usize = 64 << 10;

/// The tests take turns: each reads process-wide figures.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

#[test]
fn peak_is_exact_to_within_flush_bytes_per_thread() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    heapprof::set_sample_rate(0);
    let slack = 3 * FLUSH_BYTES as u64; // this thread, the producer and the consumer

    // A producer hands 1 GiB of blocks, 16 in flight at most, to a consumer that frees
    // them: live bytes never grow by more than the blocks in flight.
    let before = heapprof::stats();
    let (tx, rx) = sync_channel::<Vec<u8>>(16);
    let consumer = std::thread::spawn(move || rx.into_iter().map(|b| b.len()).sum::<usize>());
    let producer = std::thread::spawn(move || {
        for i in 0..(1usize << 30) / BLOCK {
            tx.send(vec![i as u8; BLOCK]).expect("consumer alive");
        }
    });
    producer.join().expect("producer");
    assert_eq!(consumer.join().expect("consumer"), 1 << 30);
    let after = heapprof::stats();
    let in_flight = 20 * BLOCK as u64;
    let ceiling = before.peak_live_bytes.max(before.live_bytes + in_flight) + slack;
    assert!(
        after.peak_live_bytes <= ceiling,
        "peak {} after passing 1 GiB between threads, at most {ceiling} expected",
        after.peak_live_bytes
    );

    // 64 MiB held at once, in 1 KiB blocks, then freed: the peak keeps them.
    let base = heapprof::stats().live_bytes;
    let held: Vec<Vec<u8>> = (0..65536).map(|i| vec![i as u8; 1024]).collect();
    let high = heapprof::stats().live_bytes;
    assert!(high >= base + (64 << 20), "{high} live with 64 MiB held over {base}");
    drop(held);
    let s = heapprof::stats();
    assert!(s.live_bytes < high - (63 << 20), "the blocks were freed: {} live", s.live_bytes);
    assert!(
        s.peak_live_bytes + slack >= high,
        "peak {} after 64 MiB were live ({high} in all)",
        s.peak_live_bytes
    );
    assert!(s.peak_unix_nanos > 0);
}

#[inline(never)]
fn allocate_and_free(blocks: usize, size: usize) {
    let v: Vec<Vec<u8>> = (0..blocks).map(|i| vec![i as u8; size]).collect();
    std::hint::black_box(&v);
}

#[test]
fn a_forked_child_counts_on_and_its_new_threads_reuse_the_stacks_of_the_gone_ones() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // Four threads that have allocated, alive and waiting while the process forks.
    let (release, wait) = channel::<()>();
    let wait = std::sync::Arc::new(Mutex::new(wait));
    let (ready_tx, ready) = channel();
    let holders: Vec<_> = (0..4)
        .map(|_| {
            let (wait, ready_tx) = (wait.clone(), ready_tx.clone());
            std::thread::spawn(move || {
                let held = vec![1u8; 1 << 20];
                ready_tx.send(()).expect("test alive");
                let _ = wait.lock().unwrap_or_else(|e| e.into_inner()).recv();
                drop(held);
            })
        })
        .collect();
    for _ in 0..4 {
        ready.recv().expect("holder started");
    }
    let at_fork = heapprof::stats();
    // SAFETY: the child allocates, starts and joins threads, and ends with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: alarm has no preconditions; a child stuck in a broken registry dies.
        unsafe { libc::alarm(30) };
        let inherited = heapprof::stats();
        // New threads take the stacks of the four that did not follow the fork.
        for _ in 0..32 {
            std::thread::spawn(|| allocate_and_free(100, 1000)).join().expect("child thread");
        }
        let after = heapprof::stats();
        let ok = inherited.allocated_objects >= at_fork.allocated_objects
            && inherited.live_bytes >= 4 << 20
            && after.allocated_objects - inherited.allocated_objects >= 32 * 101
            && after.allocated_bytes - inherited.allocated_bytes >= 32 * 100 * 1000
            && after.live_bytes < inherited.live_bytes + (1 << 20);
        // SAFETY: _exit ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    drop(release);
    for h in holders {
        h.join().expect("holder");
    }
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed: status {status}");
}
