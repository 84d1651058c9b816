//! Hostile and broken input to `decode`: always an error whose message is one line
//! naming the problem, never a panic.

use std::path::Path;
use std::time::Instant;

use heapprof_profile::{
    DecodeOptions, Error, Profile, ProfileBuilder, Sample, decode, decode_with, encode_gzip, encode_raw,
};

fn corpus(rel: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus").join(rel);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The error, checked to print as one nonempty line.
fn one_line_error(data: &[u8], options: DecodeOptions) -> Error {
    let e = match decode_with(data, options) {
        Ok(p) => panic!("decoded {} samples from bad input", p.sample.len()),
        Err(e) => e,
    };
    let text = e.to_string();
    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
    e
}

fn small() -> DecodeOptions {
    DecodeOptions { max_decompressed: 1 << 20 }
}

fn profile(time_nanos: i64) -> Profile {
    let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
    let f = b.function("main", "main", "main.rs", 1);
    let loc = b.add_location(0, 0x1000, vec![heapprof_profile::Line { function_id: f, line: 3, column: 0 }]);
    b.profile_mut().sample.push(Sample { location_id: vec![loc], value: vec![4096], label: Vec::new() });
    b.profile_mut().time_nanos = time_nanos;
    b.finish()
}

#[test]
fn empty_input() {
    let e = one_line_error(b"", DecodeOptions::default());
    assert!(matches!(e, Error::Empty), "{e}");
    // A gzip stream of nothing is empty too.
    let e = one_line_error(&encode_gzip_bytes(b""), DecodeOptions::default());
    assert!(matches!(e, Error::Empty), "{e}");
}

fn encode_gzip_bytes(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

#[test]
fn truncated_gzip() {
    let full = corpus("go-heap/default/full.pb.gz");
    for cut in [3, 10, full.len() / 2, full.len() - 4] {
        let e = one_line_error(&full[..cut], DecodeOptions::default());
        assert!(matches!(e, Error::Gzip(_)), "cut at {cut}: {e}");
        assert!(e.to_string().starts_with("bad gzip data"), "{e}");
    }
}

#[test]
fn truncated_protobuf() {
    let raw = encode_raw(&decode(&corpus("go-heap/default/full.pb.gz")).unwrap());
    let e = one_line_error(&raw[..raw.len() / 2], DecodeOptions::default());
    assert!(matches!(e, Error::Protobuf(_) | Error::Invalid(_)), "{e}");
}

/// xorshift64*: reproducible noise without a dependency.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn random_bytes() {
    let e = one_line_error(&noise(1, 4096), small());
    assert!(matches!(e, Error::Protobuf(_) | Error::Invalid(_)), "{e}");
    // Many more: whatever they are, an error prints as one line, and nothing panics.
    for seed in 0..3000u64 {
        let mut data = noise(seed, (seed as usize * 7) % 700);
        if seed % 3 == 0 && data.len() > 2 {
            data[0] = 0x1f;
            data[1] = 0x8b;
        }
        if let Err(e) = decode_with(&data, small()) {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }
}

#[test]
fn text_that_is_not_a_profile() {
    let e = one_line_error(b"Hello, this is a README.\nIt is not a profile.\n", DecodeOptions::default());
    let text = e.to_string();
    assert!(text.contains("not a legacy heap profile either"), "{text}");
    assert!(text.contains("Hello, this is a README."), "{text}");
    // Legacy text with a broken record names the line.
    let e = one_line_error(
        b"heap profile: 1: 2 [3: 4] @ heap/8\n1: 2 [3: 4] @ 0x10\n# c\nbroken\n",
        DecodeOptions::default(),
    );
    assert!(matches!(e, Error::Legacy { line: 4, .. }), "{e}");
}

#[test]
fn sample_with_a_missing_location() {
    let mut p = profile(0);
    p.sample[0].location_id.push(99);
    let e = one_line_error(&encode_gzip(&p), DecodeOptions::default());
    assert!(matches!(e, Error::Invalid(_)), "{e}");
    assert!(e.to_string().contains("missing location 99"), "{e}");
}

#[test]
fn concatenated_profiles() {
    let (a, b) = (profile(1_000), profile(2_000));
    let mut raw = encode_raw(&a);
    raw.extend(encode_raw(&b));
    let e = one_line_error(&raw, DecodeOptions::default());
    assert!(e.to_string().contains("concatenated profiles"), "{e}");
    // Two gzip members, as `cat a.pb.gz b.pb.gz` makes: read as one stream, like Go.
    let mut gz = encode_gzip(&a);
    gz.extend(encode_gzip(&b));
    let e = one_line_error(&gz, DecodeOptions::default());
    assert!(e.to_string().contains("concatenated profiles"), "{e}");
    // Without times, the repeated ids give it away.
    let mut raw = encode_raw(&profile(0));
    raw.extend(encode_raw(&profile(0)));
    let e = one_line_error(&raw, DecodeOptions::default());
    assert!(matches!(e, Error::Invalid(_)), "{e}");
}

/// A gzip stream that inflates to `1 + 258 * repeats` zero bytes: one literal zero,
/// then copies of 258 bytes at distance 1, in one fixed-Huffman deflate block. Built
/// directly (13 bits per 258 bytes), so a bomb of gigabytes costs milliseconds. The
/// trailer's CRC and size are left zero: the decoder must stop long before.
fn gzip_bomb(repeats: u64) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        n: u32,
    }
    impl Bits {
        fn put(&mut self, value: u64, bits: u32) {
            self.acc |= value << self.n;
            self.n += bits;
            while self.n >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.n -= 8;
            }
        }
        /// Huffman codes go most significant bit first.
        fn code(&mut self, code: u64, bits: u32) {
            let reversed = code.reverse_bits() >> (64 - bits);
            self.put(reversed, bits);
        }
    }
    let mut w = Bits { out: vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff], acc: 0, n: 0 };
    w.out.reserve((repeats * 13 / 8 + 64) as usize);
    w.put(1, 1); // final block
    w.put(1, 2); // fixed Huffman codes
    w.code(0x30, 8); // literal 0
    for _ in 0..repeats {
        w.code(0xc5, 8); // length 258 (code 285)
        w.code(0, 5); // distance 1 (code 0)
    }
    w.code(0, 7); // end of block
    w.put(0, 7); // flush to a byte
    w.out.extend([0; 8]);
    w.out
}

#[test]
fn gzip_bomb_stops_at_the_bound() {
    // 2 GiB of zeros, read with a 1 MiB bound.
    let bomb = gzip_bomb((2u64 << 30) / 258);
    assert!(bomb.len() < 20 << 20);
    let e = one_line_error(&bomb, small());
    assert!(matches!(e, Error::TooLarge { limit } if limit == 1 << 20), "{e}");
    assert!(e.to_string().contains("gzip bomb"), "{e}");
    // The bomb is well formed up to the bound: a bound above its size reads zeros.
    let e = one_line_error(&gzip_bomb(1000), small());
    assert!(!matches!(e, Error::TooLarge { .. }), "{e}");
}

/// The default bound (1 GiB) against a 1.1 GiB bomb. Takes about 7 s and a gigabyte
/// of memory in an unoptimized build (the bound has to be reached).
#[test]
fn gzip_bomb_stops_at_the_default_bound() {
    let bomb = gzip_bomb((11u64 << 30) / 10 / 258);
    let start = Instant::now();
    let e = one_line_error(&bomb, DecodeOptions::default());
    assert!(matches!(e, Error::TooLarge { limit } if limit == 1 << 30), "{e}");
    eprintln!("default-bound bomb rejected in {:?}", start.elapsed());
}

#[test]
fn unknown_fields_only_make_an_empty_profile() {
    // Found by fuzzing (a harness assumption): a message of unknown fields decodes to an
    // empty profile, which encodes to no bytes, which is not a profile (as in pprof).
    let data = b"\x91\x2d\xff\xff\xff\xff\xff\xff\xff\xff\xd0\xff\xff\xff\x03\x0a";
    let p = decode(data).unwrap();
    assert_eq!(p, Profile::default());
    assert!(encode_raw(&p).is_empty());
    assert!(matches!(decode(&encode_raw(&p)), Err(Error::Empty)));
}
