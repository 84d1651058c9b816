//! Bytes to profile and back: gzip detection, bounded decompression, protobuf.

use std::io::{Read, Write};

use flate2::{Compression, read::MultiGzDecoder, write::GzEncoder};
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
        DecodeOptions { max_decompressed: DEFAULT_MAX_DECOMPRESSED }
    }
}

/// Whether `data` starts with the gzip magic bytes.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&GZIP_MAGIC)
}

/// Decompresses `data` if it is gzip, bounded by `max` bytes; otherwise borrows it.
/// Concatenated gzip members are read one after the other, as Go's reader does.
pub fn gunzip_bounded(data: &[u8], max: u64) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
    if !is_gzip(data) {
        return Ok(std::borrow::Cow::Borrowed(data));
    }
    let mut out = Vec::with_capacity(data.len().saturating_mul(4).min(1 << 26));
    let read = MultiGzDecoder::new(data)
        .take(max.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| Error::Gzip(e.to_string()))?;
    if read as u64 > max {
        return Err(Error::TooLarge { limit: max });
    }
    Ok(std::borrow::Cow::Owned(out))
}

/// Decodes a profile (gzipped or raw protobuf, or legacy text) with default options,
/// and validates it.
pub fn decode(data: &[u8]) -> Result<Profile, Error> {
    decode_with(data, DecodeOptions::default())
}

/// Decodes a profile and validates it: gzipped or raw protobuf, or, when the
/// (decompressed) data starts with a legacy text header, a legacy heap profile read by
/// [`parse_legacy`](crate::parse_legacy).
pub fn decode_with(data: &[u8], options: DecodeOptions) -> Result<Profile, Error> {
    if data.is_empty() {
        return Err(Error::Empty);
    }
    let raw = gunzip_bounded(data, options.max_decompressed)?;
    if raw.is_empty() {
        return Err(Error::Empty);
    }
    if crate::legacy::looks_like_legacy(&raw) {
        // Legacy text it seems; a protobuf that merely looks like it still decodes.
        return crate::legacy::parse_legacy(&raw).or_else(|legacy| decode_protobuf(&raw).map_err(|_| legacy));
    }
    decode_protobuf(&raw)
}

/// Decodes and validates an uncompressed protobuf profile.
fn decode_protobuf(raw: &[u8]) -> Result<Profile, Error> {
    check_single_profile(raw)?;
    let decoded = Profile::decode(raw)
        .map_err(|e| Error::Protobuf(e.to_string()))
        .and_then(|p| crate::validate::validate(&p).map(|()| p));
    match decoded {
        // The protobuf decoder's complaint about text says nothing useful.
        Err(_) if looks_like_text(raw) => Err(Error::Protobuf(format!(
            "text, and not a legacy heap profile either (first line {})",
            crate::legacy::snippet(&first_line(raw))
        ))),
        other => other,
    }
}

/// pprof refuses a message with a second nonzero `time_nanos` (field 9): that is what
/// two profiles concatenated into one byte stream look like. Walks the top-level fields
/// only; anything malformed is left for the protobuf decoder to report.
fn check_single_profile(mut data: &[u8]) -> Result<(), Error> {
    const TIME_NANOS: u64 = 9;
    let mut seen_time = false;
    while !data.is_empty() {
        let Some(key) = read_varint(&mut data) else {
            return Ok(());
        };
        let skip = match key & 7 {
            0 => {
                let Some(v) = read_varint(&mut data) else {
                    return Ok(());
                };
                if key >> 3 == TIME_NANOS {
                    if seen_time {
                        return Err(Error::Protobuf(
                            "concatenated profiles detected: time_nanos appears twice".into(),
                        ));
                    }
                    seen_time = v != 0;
                }
                0
            }
            1 => 8,
            2 => match read_varint(&mut data) {
                Some(len) => usize::try_from(len).unwrap_or(usize::MAX),
                None => return Ok(()),
            },
            5 => 4,
            _ => return Ok(()),
        };
        let Some(rest) = data.get(skip..) else {
            return Ok(());
        };
        data = rest;
    }
    Ok(())
}

fn read_varint(data: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            *data = &data[i + 1..];
            return Some(v);
        }
    }
    None
}

/// Whether the start of `data` reads as text: UTF-8 without control bytes other
/// than whitespace.
fn looks_like_text(data: &[u8]) -> bool {
    let head = &data[..data.len().min(512)];
    let head = match std::str::from_utf8(head) {
        Ok(s) => s,
        // A multi-byte character cut at the end of the window.
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !head.is_empty() && !head.chars().any(|c| c.is_control() && !c.is_whitespace())
}

fn first_line(data: &[u8]) -> std::borrow::Cow<'_, str> {
    let head = &data[..data.len().min(200)];
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    String::from_utf8_lossy(line)
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
