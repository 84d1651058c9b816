//! The workload under dhat-rs (`dhat::Alloc`, heap profiling on), over the system
//! allocator. dhat writes `dhat-heap.json` into the working directory at exit.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    let _profiler = dhat::Profiler::builder().trim_backtraces(None).build();
    heapprof_bench::main_with("dhat", &|| {
        let s = dhat::HeapStats::get();
        format!("total_blocks={} total_bytes={} max_bytes={}", s.total_blocks, s.total_bytes, s.max_bytes)
    });
}
