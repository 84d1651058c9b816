//! The checks of the `http_head` target: the built-in HTTP server's handling of one
//! connection (`heapprof::http::__fuzz::serve_request`: reading the request head,
//! parsing the request line and headers, the token check, routing, writing the
//! response) on arbitrary bytes arriving in arbitrary pieces.

use std::cell::Cell;
use std::io::{ErrorKind, Read};

use heapprof::http::__fuzz::serve_request;
use heapprof::http::Options;

/// The token the server requires when the options byte asks for one.
pub const TOKEN: &str = "s3cret";

/// How the client's bytes end once all are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
enum End {
    /// The client closes the connection.
    Closed,
    /// The read timeout expires (as `TimedOut`, or `WouldBlock` on some systems).
    TimedOut(ErrorKind),
    /// The connection fails.
    Reset,
}

/// The client: `data` in reads of at most `piece` bytes, then `end`.
struct Client<'a> {
    data: &'a [u8],
    piece: usize,
    end: End,
}

impl Read for Client<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return match self.end {
                End::Closed => Ok(0),
                End::TimedOut(kind) => Err(kind.into()),
                End::Reset => Err(ErrorKind::ConnectionReset.into()),
            };
        }
        let n = buf.len().min(self.piece).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The input is `[options][piece][request bytes]`. Options: bit 0 requires the bearer
/// token [`TOKEN`]; bits 1–2 pick the largest request head (8 KiB, the default, or
/// 64, 256 or 1,024 bytes); bits 3–5 are the largest `seconds`; bits 6–7 how the
/// stream ends (closed, timed out, would block, reset). The client sends `piece + 1`
/// bytes per read.
pub fn http_head(data: &[u8]) {
    let [flags, piece, ref request @ ..] = *data else { return };
    let max_request_bytes = [8 * 1024, 64, 256, 1024][usize::from(flags >> 1 & 3)];
    let options = Options {
        token: (flags & 1 != 0).then(|| TOKEN.to_owned()),
        max_request_bytes,
        max_seconds: u64::from(flags >> 3 & 7),
        ..Options::default()
    };
    let end =
        [End::Closed, End::TimedOut(ErrorKind::TimedOut), End::TimedOut(ErrorKind::WouldBlock), End::Reset]
            [usize::from(flags >> 6)];
    let mut client = Client { data: request, piece: usize::from(piece) + 1, end };
    let waited = Cell::new(None);
    let written = match serve_request(&mut client, &options, &|d| waited.set(Some(d))) {
        Ok(w) => w,
        Err(e) => {
            // Only a failed connection is given up on; a timeout is answered with 408.
            assert_eq!(end, End::Reset, "gave up on a connection that ended {end:?}: {e}");
            assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e}");
            return;
        }
    };
    let text = String::from_utf8_lossy(&written);
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head ends with a blank line");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.split_once(' '))
        .filter(|(_, reason)| !reason.is_empty())
        .and_then(|(code, _)| code.parse().ok())
        .unwrap_or_else(|| panic!("status line {status_line:?}"));
    let mut content_length = None;
    for line in lines {
        // A value that carried CR or LF would let a request inject headers.
        assert!(!line.contains(['\r', '\n']), "header line {line:?}");
        let (name, value) = line.split_once(": ").unwrap_or_else(|| panic!("header line {line:?}"));
        if name == "Content-Length" {
            content_length = Some(value.parse::<usize>().expect("Content-Length"));
        }
    }
    let body_len = written.len() - head.len() - 4;
    // The request head as the server should have seen it, up to its blank line (lines
    // end in CRLF or a bare LF).
    let request_head = (0..request.len())
        .find(|&i| {
            let rest = &request[i..];
            rest.starts_with(b"\r\n\r\n") || rest.starts_with(b"\n\n") || rest.starts_with(b"\n\r\n")
        })
        .map(|end| &request[..end]);
    // A routed HEAD states the length GET's body would have, and sends none.
    let routed_head = matches!(status, 200 | 404) && request_head.is_some_and(|h| h.starts_with(b"HEAD "));
    if routed_head {
        assert_eq!(body_len, 0, "HEAD answered with a body");
        assert!(content_length.is_some(), "HEAD answered without Content-Length");
    } else {
        assert_eq!(content_length, Some(body_len), "Content-Length");
    }
    match status {
        // Answers of the routes, after the head was read and the request authorized.
        200 | 404 => {
            let head = request_head.expect("routed a request without a complete head");
            assert!(
                head.len() <= max_request_bytes,
                "answered {status} to a {}-byte head, over the {max_request_bytes}-byte limit",
                head.len()
            );
            if options.token.is_some() {
                let authorized = String::from_utf8_lossy(head).contains(&format!("Bearer {TOKEN}"));
                assert!(authorized, "answered {status} without the token");
            }
        }
        400 | 401 | 405 | 505 => {}
        408 => assert!(matches!(end, End::TimedOut(_)), "408 on a stream that ended {end:?}"),
        431 => {}
        s => panic!("unexpected status {s}"),
    }
    if status != 200 && !body.is_empty() {
        assert!(
            body.ends_with('\n') && !body.trim_end_matches('\n').contains('\n'),
            "error is not one line: {body:?}"
        );
    }
    if let Some(d) = waited.get() {
        assert_eq!(status, 200, "waited, then failed");
        assert!(d.as_secs() >= 1 && d.as_secs() <= options.max_seconds, "waited {d:?}");
    }
}
