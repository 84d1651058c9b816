//! The workload under the counting floor ([`heapprof_bench::Counting`]), against
//! which heapprof at rate 0 is measured in BENCHMARKS.md.

#[global_allocator]
static ALLOC: heapprof_bench::Counting = heapprof_bench::Counting;

fn main() {
    heapprof_bench::main_with("counting", &|| {
        let [_, allocated, _, freed] = heapprof_bench::Counting::thread_counts();
        format!("main thread: allocated {allocated} B, freed {freed} B")
    });
}
