//! A byte cursor for the fixed line shapes of legacy profiles.
//!
//! pprof reads these lines with regular expressions; the shapes are simple enough that
//! a greedy cursor accepts exactly the same lines (no backtracking can change the
//! outcome where it is used), in linear time even on hostile input.

/// Go's `\s`: ASCII space, tab, newline, form feed, carriage return.
pub(super) fn is_go_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

/// A position in a line.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cursor<'a> {
    pub(super) s: &'a str,
    pub(super) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(s: &'a str, pos: usize) -> Self {
        Cursor { s, pos }
    }

    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    /// The rest of the line.
    pub(super) fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    /// Consumes `lit` if it comes next.
    pub(super) fn lit(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    /// Consumes bytes while `pred` holds; returns them (possibly empty).
    pub(super) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        // Only ASCII predicates are used, so the cut is on a char boundary.
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// ` *`: zero or more ASCII spaces.
    pub(super) fn spaces(&mut self) {
        self.take_while(|b| b == b' ');
    }

    /// `\s*`.
    pub(super) fn ws0(&mut self) {
        self.take_while(is_go_space);
    }

    /// `\s+`.
    pub(super) fn ws1(&mut self) -> bool {
        !self.take_while(is_go_space).is_empty()
    }

    /// `\d+`.
    pub(super) fn digits(&mut self) -> Option<&'a str> {
        Some(self.take_while(|b| b.is_ascii_digit())).filter(|d| !d.is_empty())
    }

    /// `-?\d+`.
    pub(super) fn signed_digits(&mut self) -> Option<&'a str> {
        let start = self.pos;
        self.lit("-");
        if self.digits().is_some() {
            self.s.get(start..self.pos)
        } else {
            self.pos = start;
            None
        }
    }

    /// `[[:xdigit:]]+`.
    pub(super) fn hex(&mut self) -> Option<&'a str> {
        Some(self.take_while(|b| b.is_ascii_hexdigit())).filter(|d| !d.is_empty())
    }
}

/// Finds the leftmost position where `attempt` matches, trying positions where
/// `starts` holds. After a failure inside a run of bytes where `run` holds, the rest
/// of the run is skipped: the patterns used here fail the same way from anywhere in a
/// run of digits (the digits are read greedily up to the same byte). Linear in practice.
pub(super) fn find<'a, T>(
    s: &'a str,
    starts: impl Fn(u8) -> bool,
    run: impl Fn(u8) -> bool,
    attempt: impl Fn(Cursor<'a>) -> Option<T>,
) -> Option<T> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if starts(b[i]) {
            if let Some(t) = attempt(Cursor::new(s, i)) {
                return Some(t);
            }
        }
        if run(b[i]) {
            while i < b.len() && run(b[i]) {
                i += 1;
            }
        } else {
            i += 1;
        }
    }
    None
}

/// pprof's `0x[0-9a-f]+` find-all, parsed as unsigned 64-bit numbers.
/// Err carries the text of a number too large for 64 bits.
pub(super) fn hex_addresses(s: &str) -> Result<Vec<u64>, String> {
    let b = s.as_bytes();
    let is_hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'0' && b.get(i + 1) == Some(&b'x') && b.get(i + 2).is_some_and(|&c| is_hex(c)) {
            let start = i + 2;
            let mut end = start;
            while end < b.len() && is_hex(b[end]) {
                end += 1;
            }
            let digits = &s[start..end];
            let value = u64::from_str_radix(digits, 16).map_err(|_| s[i..end].to_owned())?;
            out.push(value);
            i = end;
        } else {
            i += 1;
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseInt(s, 10, 64)` on a `-?\d+` string.
pub(super) fn parse_i64(s: &str) -> Option<i64> {
    s.parse().ok()
}

/// Go's `strconv.ParseInt(s, 0, 64)` on a `\d+` string: a leading `0` means octal.
pub(super) fn parse_i64_base0(s: &str) -> Option<i64> {
    match s.strip_prefix('0') {
        Some(oct) if !oct.is_empty() => i64::from_str_radix(oct, 8).ok(),
        _ => s.parse().ok(),
    }
}

/// Go's `path/filepath.Base` on a Unix path (the reports' own helper).
pub(super) use crate::report::paths::base_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_addresses_like_pprof() {
        assert_eq!(hex_addresses(" 0x12 0x34x0x5 0x 0xg").unwrap(), vec![0x12, 0x34, 0x5]);
        assert_eq!(hex_addresses("").unwrap(), Vec::<u64>::new());
        assert!(hex_addresses(" 0x10000000000000000").is_err());
        assert_eq!(hex_addresses("0x00000000000000000001").unwrap(), vec![1]);
    }

    #[test]
    fn base0_is_octal_with_leading_zero() {
        assert_eq!(parse_i64_base0("010"), Some(8));
        assert_eq!(parse_i64_base0("0"), Some(0));
        assert_eq!(parse_i64_base0("09"), None);
        assert_eq!(parse_i64_base0("12"), Some(12));
    }

    #[test]
    fn base_name_like_go() {
        assert_eq!(base_name("/a/b.so"), "b.so");
        assert_eq!(base_name("b"), "b");
        assert_eq!(base_name("/a/"), "a");
        assert_eq!(base_name("///"), "/");
        assert_eq!(base_name(""), ".");
    }
}
