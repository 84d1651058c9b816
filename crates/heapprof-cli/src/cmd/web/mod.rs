//! `heapprof web`: a local web UI on loopback — a top table and a flame graph
//! (differential with `--base`) per profile, with the sample index and filters
//! chosen in the page. The page's assets are compiled in; nothing is fetched from
//! elsewhere and no file is served from disk.

mod query;
mod views;

use anyhow::{Result, anyhow};
use heapprof_profile::Profile;
use tiny_http::{Header, Method, Request, Response, Server};

use crate::options::{Sources, describe};
use crate::source;
use query::Query;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// Serve a local web UI (top table, flame graph) on 127.0.0.1
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  heapprof web heap.pb.gz\n  heapprof web --port 8080 host1.pb.gz host2.pb.gz\n  heapprof web --base before.pb.gz after.pb.gz   # every view shows the change"
)]
pub struct Args {
    #[command(flatten)]
    sources: Sources,
    /// Compare every view against this profile (merged when repeated)
    #[arg(long, value_name = "FILE")]
    base: Vec<String>,
    /// Port on 127.0.0.1; 0 picks a free one
    #[arg(long, value_name = "P", default_value_t = 0)]
    port: u16,
    /// Open the page in the desktop's browser (xdg-open)
    #[arg(long)]
    open: bool,
}

/// The profiles being served: each source by its position, and all merged.
#[derive(Debug)]
pub(crate) struct Profiles {
    pub(crate) names: Vec<String>,
    pub(crate) sources: Vec<Profile>,
    pub(crate) base: Vec<Profile>,
}

pub fn run(args: &Args) -> Result<()> {
    let profiles = Profiles {
        names: args.sources.sources.clone(),
        sources: source::load_all(&args.sources.sources, args.sources.seconds)?,
        base: source::load_all(&args.base, args.sources.seconds)?,
    };
    // Fail now, not on the first request, when the profiles cannot be combined.
    views::check(&profiles).map_err(|e| crate::error::bad(describe(&args.sources.sources), e))?;
    let server = Server::http(("127.0.0.1", args.port))
        .map_err(|e| anyhow!("cannot listen on 127.0.0.1:{}: {e}", args.port))?;
    let addr = server.server_addr().to_ip().ok_or_else(|| anyhow!("the server has no IP address"))?;
    // The URL on stdout (flushed at once: tests and scripts read it); Ctrl-C stops.
    println!("heapprof: serving http://{addr}/");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    if args.open {
        open_browser(&format!("http://{addr}/"));
    }
    for request in server.incoming_requests() {
        let reply = answer(&request, &profiles);
        // A client that went away is not our problem.
        let _ = request.respond(reply);
    }
    Ok(())
}

/// Asks the desktop to open `url`; failing that, the printed URL is enough.
fn open_browser(url: &str) {
    let opened = std::process::Command::new("xdg-open")
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = opened {
        eprintln!("heapprof: warning: cannot open a browser (xdg-open: {e}); open {url} yourself");
    }
}

type Reply = Response<std::io::Cursor<Vec<u8>>>;

fn answer(request: &Request, profiles: &Profiles) -> Reply {
    if !matches!(request.method(), Method::Get | Method::Head) {
        return text(405, "only GET and HEAD are served\n");
    }
    let (path, raw_query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    let query = match Query::parse(raw_query) {
        Ok(q) => q,
        Err(e) => return text(400, &format!("bad query: {e}\n")),
    };
    match path {
        "/" | "/index.html" => body(200, "text/html; charset=utf-8", INDEX_HTML.as_bytes().to_vec()),
        "/app.js" => body(200, "text/javascript; charset=utf-8", APP_JS.as_bytes().to_vec()),
        "/style.css" => body(200, "text/css; charset=utf-8", STYLE_CSS.as_bytes().to_vec()),
        "/api/info" => json(views::info(profiles)),
        "/api/top" => match views::top(profiles, &query) {
            Ok(v) => json(v),
            Err(e) => e.reply(),
        },
        "/api/peek" => match views::peek(profiles, &query) {
            Ok(v) => json(v),
            Err(e) => e.reply(),
        },
        "/flamegraph.svg" => match views::flamegraph(profiles, &query) {
            Ok(svg) => body(200, "image/svg+xml", svg),
            Err(e) => e.reply(),
        },
        _ => text(404, "not found: the routes are /, /api/info, /api/top, /api/peek and /flamegraph.svg\n"),
    }
}

fn body(status: u16, content_type: &str, bytes: Vec<u8>) -> Reply {
    let mut r = Response::from_data(bytes).with_status_code(status);
    for (k, v) in [
        ("Content-Type", content_type),
        ("X-Content-Type-Options", "nosniff"),
        ("Cache-Control", "no-store"),
        // Only our own assets; inferno's SVG carries its script inline.
        (
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'",
        ),
    ] {
        if let Ok(h) = Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            r.add_header(h);
        }
    }
    r
}

fn text(status: u16, message: &str) -> Reply {
    body(status, "text/plain; charset=utf-8", message.as_bytes().to_vec())
}

fn json(value: serde_json::Value) -> Reply {
    body(200, "application/json", value.to_string().into_bytes())
}

/// A request that cannot be answered: 4xx with a one-line reason.
#[derive(Debug)]
pub(crate) struct HttpError {
    pub(crate) status: u16,
    pub(crate) message: String,
}

impl HttpError {
    pub(crate) fn new(status: u16, message: impl std::fmt::Display) -> HttpError {
        HttpError { status, message: message.to_string() }
    }

    fn reply(&self) -> Reply {
        text(self.status, &format!("{}\n", self.message))
    }
}
