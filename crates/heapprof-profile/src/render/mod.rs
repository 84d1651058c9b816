//! Pictures of a report: folded stacks (the input of flame graphs), SVG flame
//! graphs (with the `flamegraph` feature, drawn by `inferno`) and Graphviz DOT call
//! graphs. Everything here is computed from a [`Report`](crate::report::Report),
//! so the CLI and the library's HTTP endpoint draw the same pictures; the output
//! is deterministic (the same profile gives the same bytes).
//!
//! ```
//! use heapprof_profile::render::Folded;
//! use heapprof_profile::report::{Granularity, Report, ReportOptions, View};
//! use heapprof_profile::{Line, ProfileBuilder, Sample};
//!
//! let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
//! let main = b.function("main", "", "main.go", 1);
//! let alloc = b.function("alloc", "", "main.go", 9);
//! let l1 = b.add_location(0, 0x1000, vec![Line { function_id: main, line: 3, column: 0 }]);
//! let l2 = b.add_location(0, 0x2000, vec![Line { function_id: alloc, line: 10, column: 0 }]);
//! b.profile_mut().sample.push(Sample { location_id: vec![l2, l1], value: vec![4096], label: vec![] });
//! let view = View::from_profiles(&[&b.finish()]).unwrap();
//! let report = Report::new(view, &ReportOptions::default()).unwrap();
//!
//! let folded = Folded::new(&report, Granularity::Functions);
//! assert_eq!(folded.stacks().collect::<Vec<_>>(), vec![("main;alloc".to_string(), 4096)]);
//! ```

mod dot;
#[cfg(feature = "flamegraph")]
mod flame_input;
#[cfg(feature = "flamegraph")]
mod flamegraph;
mod folded;
mod stacks;

pub use dot::write_dot;
#[cfg(feature = "flamegraph")]
pub use flamegraph::{FlameOptions, differential_flamegraph, flamegraph};
pub use folded::{DiffFolded, Folded};

/// Why a picture could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A flame graph needs non-negative values (a `--base` subtraction can make
    /// them negative; draw a differential flame graph instead).
    #[error("stack {stack:?} has a negative value ({value}); use a differential flame graph")]
    Negative {
        /// The stack, root first, frames joined by ';'.
        stack: String,
        /// Its value.
        value: i64,
    },
    /// Writing the output failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}
