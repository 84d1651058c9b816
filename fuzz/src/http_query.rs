//! The checks of the `http_query` target: `heapprof::http::respond`, the pure function
//! behind both HTTP servers, on arbitrary paths and query strings.

use heapprof::http::respond;
use heapprof_profile::{decode, parse_legacy};

/// The input is `[max_seconds byte][path]\n[query]`; a path without a leading `/` is
/// taken under `/debug/pprof/`, so that most inputs reach the routes rather than the 404.
/// The process has no heapprof allocator installed, so profiles are empty and cheap;
/// what is fuzzed is the parsing of the request, not the sampler.
pub fn http_query(data: &[u8]) {
    let Some((&max, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let (raw_path, query) = text.split_once('\n').unwrap_or((&text, ""));
    let path =
        if raw_path.starts_with('/') { raw_path.to_owned() } else { format!("/debug/pprof/{raw_path}") };
    let max_seconds = u64::from(max % 8);
    let waited = std::cell::Cell::new(None);
    let r = respond(&path, query, max_seconds, &|d| waited.set(Some(d)));
    let body = String::from_utf8_lossy(&r.body);
    match r.status {
        400 | 404 => {
            assert!(r.content_type.starts_with("text/plain"), "{path}?{query}: {}", r.content_type);
            // One line: the reason, then the newline.
            assert!(
                body.ends_with('\n') && !body.trim_end_matches('\n').contains('\n'),
                "{path}?{query}: error is not one line: {body:?}"
            );
        }
        200 => {}
        s => panic!("{path}?{query}: unexpected status {s}"),
    }
    if let Some(d) = waited.get() {
        // A delta profile waits only when asked to, and never past the maximum.
        assert_eq!(r.status, 200, "{path}?{query}: waited, then failed");
        assert!(d.as_secs() >= 1 && d.as_secs() <= max_seconds, "{path}?{query}: waited {d:?}");
    }
    if r.status != 200 {
        return;
    }
    if r.content_type == "application/octet-stream" {
        if let Err(e) = decode(&r.body) {
            panic!("{path}?{query}: served profile does not decode: {e}");
        }
    } else if r.content_type.starts_with("text/plain") {
        // Legacy text (`debug=N`), then the `# heapprof.Stats` comment block.
        if let Err(e) = parse_legacy(&r.body) {
            panic!("{path}?{query}: served legacy text does not parse: {e}");
        }
    }
}
