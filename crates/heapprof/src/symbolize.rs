//! Symbolizing, on this machine, a profile written by a stripped program elsewhere:
//! what `heapprof symbolize` does. The profile's mappings name each file by path
//! and GNU build id; the unstripped build (or its debug file) with that build id
//! gives functions, files and lines, read as the profiler reads them in the process.
//!
//! ```no_run
//! use heapprof::symbolize::{SymbolizeOptions, symbolize_profile};
//!
//! let data = std::fs::read("heap.pb.gz").unwrap();
//! let profile = heapprof::pprof::decode(&data).unwrap();
//! let opts = SymbolizeOptions { binaries: vec!["target/release/app".into()], ..Default::default() };
//! let (symbolized, report) = symbolize_profile(&profile, &opts).unwrap();
//! for m in &report {
//!     println!("{} {}: {:?}", m.file, m.build_id, m.outcome);
//! }
//! std::fs::write("heap.sym.pb.gz", heapprof::pprof::encode_gzip(&symbolized)).unwrap();
//! ```
pub use crate::symbols::offline::{
    MappingOutcome, MappingReport, OfflineSymbolizer, SymbolizeOptions, symbolize_profile,
};
