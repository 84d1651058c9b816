//! The query string of a request: `key=value` pairs, percent-decoded.

/// The parameters the views understand; anything else is refused.
const KNOWN: [&str; 7] = ["p", "si", "focus", "ignore", "hide", "show", "re"];

/// Decoded query parameters (the last value of a repeated key wins).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=1&b=x%20y`; unknown keys and malformed escapes are errors.
    pub(crate) fn parse(raw: &str) -> Result<Query, String> {
        let mut pairs = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let (k, v) = (decode(k)?, decode(v)?);
            if !KNOWN.contains(&k.as_str()) {
                return Err(format!("unknown parameter {k:?} (known: {})", KNOWN.join(", ")));
            }
            pairs.push((k, v));
        }
        Ok(Query { pairs })
    }

    /// The value of `key`, if given and not empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
}

/// Percent-decoding, with `+` as a space; the result must be UTF-8.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                out.push(byte.ok_or_else(|| format!("bad escape in {s:?}"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| format!("{s:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_refuses() {
        let q = Query::parse("p=all&focus=json%2EMarshal&si=&ignore=a+b").unwrap();
        assert_eq!(q.get("p"), Some("all"));
        assert_eq!(q.get("focus"), Some("json.Marshal"));
        assert_eq!(q.get("si"), None);
        assert_eq!(q.get("ignore"), Some("a b"));
        assert!(Query::parse("focus=%zz").is_err());
        assert!(Query::parse("focus=%e9").is_err());
        assert!(Query::parse("file=/etc/passwd").is_err());
    }
}
