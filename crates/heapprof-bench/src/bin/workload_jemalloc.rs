//! The workload on jemalloc alone, linked in through tikv-jemallocator (the baseline
//! of `workload_heapprof_jemalloc`).

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    heapprof_bench::main_with("jemalloc", &String::new);
}
