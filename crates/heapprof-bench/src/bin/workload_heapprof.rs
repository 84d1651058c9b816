//! The workload under heapprof over the system allocator (rate from HEAPPROF_RATE).

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn main() {
    heapprof_bench::main_with("heapprof", &heapprof_bench::heapprof_report);
}
