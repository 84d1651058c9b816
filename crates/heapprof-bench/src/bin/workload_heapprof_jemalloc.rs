//! The workload under heapprof over jemalloc (tikv-jemallocator; rate from HEAPPROF_RATE).

#[global_allocator]
static ALLOC: heapprof::Profiler<tikv_jemallocator::Jemalloc> =
    heapprof::Profiler::with_allocator(tikv_jemallocator::Jemalloc);

fn main() {
    heapprof_bench::main_with("heapprof+jemalloc", &heapprof_bench::heapprof_report);
}
