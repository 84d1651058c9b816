//! The workload on the system allocator (or whatever LD_PRELOAD puts under malloc).
fn main() {
    heapprof_bench::main_with("system", &String::new);
}
