//! The checks behind heapprof's fuzz targets, shared by the libFuzzer targets and the
//! `replay` binary that runs them over files on a stable toolchain.

mod http_head;
mod http_query;
mod trend;

pub use http_head::http_head;
pub use http_query::http_query;
pub use trend::{PROFILE_SEPARATOR, trend};

use heapprof_profile::{DecodeOptions, decode_with, encode_raw, merge, parse_legacy, write_legacy_heap};

/// Small enough that a gzip bomb is cheap, large enough for every corpus profile.
const MAX_DECOMPRESSED: u64 = 16 << 20;

/// Decodes `data` (gzip, protobuf or legacy text); whatever it holds, nothing may
/// panic, an error prints as one line, and a decoded profile survives encoding,
/// writing as legacy text and merging.
pub fn decode(data: &[u8]) {
    let options = DecodeOptions { max_decompressed: MAX_DECOMPRESSED };
    let p = match decode_with(data, options) {
        Ok(p) => p,
        Err(e) => {
            let text = e.to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
            return;
        }
    };
    let encoded = encode_raw(&p);
    // A profile with every field at its default encodes to nothing, which is not a
    // profile (pprof refuses empty input too).
    if !encoded.is_empty() {
        let again = decode_with(&encoded, options).expect("re-decoding an encoded profile");
        assert_eq!(again, p, "protobuf round trip");
    }
    let mut text = Vec::new();
    if write_legacy_heap(&p, &mut text).is_ok()
        && let Err(e) = parse_legacy(&text)
    {
        panic!("written legacy text does not parse: {e}\n{}", String::from_utf8_lossy(&text));
    }
    let _ = merge(&[p.clone(), p]);
}
