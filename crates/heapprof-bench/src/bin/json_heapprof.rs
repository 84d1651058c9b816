//! The real program (serde_json over a large document) under heapprof, rate from
//! HEAPPROF_RATE. Prints heapprof's exact counters for the whole process and, from
//! its heap profile, the allocations whose stacks hold `json_work` (at rate 1: exact).

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn main() {
    let line = heapprof_bench::real::run_timed(heapprof_bench::real::records_arg("json_heapprof"));
    let s = heapprof::stats();
    let (calls, bytes) = heapprof_bench::real::work_totals(&heapprof::heap_profile());
    println!(
        "real {line} rate={} allocated_objects={} allocated_bytes={} reallocations={} work_alloc_objects={calls} work_alloc_bytes={bytes} profiler_bytes={}",
        s.sample_rate, s.allocated_objects, s.allocated_bytes, s.reallocations, s.profiler_bytes
    );
}
