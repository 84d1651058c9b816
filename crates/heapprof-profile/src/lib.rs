//! The pprof data model shared by every part of heapprof: decoding (gzipped or raw
//! protobuf), encoding, validation and building profiles. Pure data: no global state,
//! no knowledge of allocators.
//!
//! ```
//! use heapprof_profile::{ProfileBuilder, Sample, decode, encode_gzip};
//!
//! let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
//! let f = b.function("main", "main", "main.rs", 1);
//! let loc = b.add_location(0, 0x1000, vec![heapprof_profile::Line { function_id: f, line: 3, column: 0 }]);
//! b.profile_mut().sample.push(Sample { location_id: vec![loc], value: vec![4096], label: vec![] });
//! let bytes = encode_gzip(&b.finish());
//! let back = decode(&bytes).unwrap();
//! assert_eq!(back.sample[0].value, vec![4096]);
//! ```
#![deny(missing_docs)]

mod builder;
mod codec;
pub mod function_names;
mod legacy;
mod merge;
mod model;
pub mod render;
pub mod report;
pub mod trend;
mod validate;

pub use builder::ProfileBuilder;
pub use codec::{
    DEFAULT_MAX_DECOMPRESSED, DecodeOptions, decode, decode_with, encode_gzip, encode_raw, gunzip_bounded,
    is_gzip,
};
pub use legacy::{parse_legacy, write_legacy_heap};
pub use merge::{merge, scale, subtract};
pub use model::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
pub use validate::validate;

/// Why a profile could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input has no bytes.
    #[error("empty input")]
    Empty,
    /// The gzip stream is broken.
    #[error("bad gzip data: {0}")]
    Gzip(String),
    /// Decompression passed the configured bound.
    #[error("decompressed profile exceeds {limit} bytes (a gzip bomb?)")]
    TooLarge {
        /// The bound that was hit.
        limit: u64,
    },
    /// The bytes are not a protobuf profile.
    #[error("not a pprof protobuf profile: {0}")]
    Protobuf(String),
    /// The profile decodes but breaks the format's rules.
    #[error("invalid profile: {0}")]
    Invalid(String),
    /// A profile cannot be written as legacy heap text.
    #[error("cannot write legacy heap text: {0}")]
    LegacyWrite(String),
    /// Writing the output failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// Profiles cannot be merged.
    #[error("cannot merge profiles: {0}")]
    Merge(String),
    /// A legacy text profile could not be parsed.
    #[error("line {line}: {message}")]
    Legacy {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
}
