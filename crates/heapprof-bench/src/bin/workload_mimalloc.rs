//! The workload on mimalloc alone (the baseline of `workload_heapprof_mimalloc`).

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    heapprof_bench::main_with("mimalloc", &String::new);
}
