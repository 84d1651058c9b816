//! The query string of a request: `key=value` pairs, percent-decoded as the live
//! endpoints decode them.

use heapprof::http::decode_query_component as decode;

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
