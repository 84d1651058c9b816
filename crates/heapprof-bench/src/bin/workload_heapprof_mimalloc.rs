//! The workload under heapprof over mimalloc (rate from HEAPPROF_RATE).

#[global_allocator]
static ALLOC: heapprof::Profiler<mimalloc::MiMalloc> = heapprof::Profiler::with_allocator(mimalloc::MiMalloc);

fn main() {
    heapprof_bench::main_with("heapprof+mimalloc", &heapprof_bench::heapprof_report);
}
