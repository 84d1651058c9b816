//! The real program (serde_json over a large document) on the system allocator, or
//! on whatever LD_PRELOAD puts under malloc (heaptrack runs this one).

fn main() {
    println!("real {}", heapprof_bench::real::run_timed(heapprof_bench::real::records_arg("json_bare")));
}
