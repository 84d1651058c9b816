//! Bytes to profile and back: gzip detection, bounded decompression, protobuf.

use std::io::{Read, Write};

use flate2::{Compression, read::GzDecoder, write::GzEncoder};
use prost::Message;

use crate::{Error, Profile};

/// Default bound on a decompressed profile (1 GiB): a gzip bomb stops there.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 1 << 30;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Options for [`decode_with`].
#[derive(Clone, Copy, Debug)]
pub struct DecodeOptions {
    /// Largest decompressed size accepted, in bytes.
    pub max_decompressed: u64,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_decompressed: DEFAULT_MAX_DECOMPRESSED,
        }
    }
}

/// Whether `data` starts with the gzip magic bytes.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Decompresses `data` if it is gzip, bounded by `max` bytes; otherwise borrows it.
pub fn gunzip_bounded(data: &[u8], max: u64) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    if !is_gzip(data) {
        return Ok(std::borrow::Cow::Borrowed(data));
    }
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(1 << 26));
    let read = GzDecoder::new(data)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::Gzip(e.to_string()))?;
    if read as u64 > max {
        return Err(Error::TooLarge { limit: max });
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Decodes a protobuf profile (gzipped or raw) with default options, and validates it.
pub fn decode(data: &[u8]) -> Result<Profile, Error> {
    decode_with(data, DecodeOptions::default())
}

/// Decodes a protobuf profile (gzipped or raw) and validates it.
pub fn decode_with(data: &[u8], options: DecodeOptions) -> Result<Profile, Error> {
    if data.is_empty() {
        return Err(Error::Empty);
    }
    let raw = gunzip_bounded(data, options.max_decompressed)?;
    let profile = Profile::decode(raw.as_ref()).map_err(|e| Error::Protobuf(e.to_string()))?;
    crate::validate::validate(&profile)?;
    Ok(profile)
}

/// Encodes `profile` as protobuf (uncompressed).
pub fn encode_raw(profile: &Profile) -> Vec<u8> {
    profile.encode_to_vec()
}

/// Encodes `profile` as gzipped protobuf, at gzip's fastest level as Go does.
pub fn encode_gzip(profile: &Profile) -> Vec<u8> {
    let raw = encode_raw(profile);
    let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 3 + 64), Compression::fast());
    gz.write_all(&raw).expect("writing to a Vec cannot fail");
    gz.finish().expect("writing to a Vec cannot fail")
}
