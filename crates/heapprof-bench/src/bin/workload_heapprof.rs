//! The workload under heapprof over the system allocator (rate from HEAPPROF_RATE).

#[global_allocator]
static ALLOC: heapprof::Profiler = heapprof::Profiler::new();

fn main() {
    heapprof_bench::main_with("heapprof", &|| {
        let s = heapprof::stats();
        let per_sample = s.profiler_bytes.checked_div(s.live_samples).unwrap_or(0);
        format!(
            "rate={} live_samples={} stack_records={} dropped={} profiler_bytes={} profiler_bytes_per_live_sample={per_sample}",
            s.sample_rate, s.live_samples, s.stack_records, s.dropped_samples, s.profiler_bytes
        )
    });
}
