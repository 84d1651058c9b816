//! `heapprof web`: a local web UI on loopback — a top table, a flame graph, a
//! call graph, callers/callees and per-line source values per profile
//! (differential with `--base`), and a timeline with the leak suspects when the
//! profiles form a series. The page's assets are compiled in; nothing is fetched
//! from elsewhere, and the only files read after start-up are source files under
//! the source directories.

mod query;
mod server;
mod source_view;
mod timeline;
mod views;

use std::path::PathBuf;

use anyhow::Result;
use heapprof_profile::Profile;

use crate::options::{Sources, describe};
use crate::source;
use query::Query;

/// The page and its assets, compiled in: (route, content type, body).
const ASSETS: [(&str, &str, &str); 7] = [
    ("/", HTML, include_str!("index.html")),
    ("/index.html", HTML, include_str!("index.html")),
    ("/style.css", "text/css; charset=utf-8", include_str!("style.css")),
    ("/app.js", JS, include_str!("app.js")),
    ("/graphs.js", JS, include_str!("graphs.js")),
    ("/source.js", JS, include_str!("source.js")),
    ("/timeline.js", JS, include_str!("timeline.js")),
];
const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// Serve a local web UI (top, flame graph, call graph, source, timeline) on 127.0.0.1
#[derive(Debug, clap::Args)]
#[command(after_help = "A directory stands for the profiles in it. Several profiles form a series: the \
Timeline view plots their totals over time with the leak suspects of `heapprof trend`.\n\n\
Examples:\n  heapprof web heap.pb.gz\n  heapprof web --port 8080 host1.pb.gz host2.pb.gz\n  \
heapprof web /var/tmp/heap-profiles             # a series: the timeline\n  \
heapprof web --base before.pb.gz after.pb.gz   # every view shows the change\n  \
heapprof web http://127.0.0.1:6060/debug/pprof/heap   # a live process, as of now")]
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
    /// Directories holding the source files for the Source view, separated by
    /// ':' (repeatable); nothing outside them is read [default: the current
    /// directory]
    #[arg(long, value_name = "DIRS")]
    source_path: Vec<String>,
    /// Path prefixes to remove from the profile's file names (repeatable)
    #[arg(long, value_name = "PREFIX")]
    trim_path: Vec<String>,
}

/// The profiles being served: each source by its position, and all merged.
#[derive(Debug)]
pub(crate) struct Profiles {
    pub(crate) names: Vec<String>,
    pub(crate) sources: Vec<Profile>,
    /// When each source was taken (as `heapprof trend` reads it), if known.
    pub(crate) times: Vec<Option<i64>>,
    pub(crate) base: Vec<Profile>,
    /// Where the Source view may read files, and what to trim from their names.
    pub(crate) source_dirs: Vec<PathBuf>,
    pub(crate) trim_path: Vec<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let names = crate::cmd::trend::expand(&args.sources.sources)?;
    let sources = source::load_all(&names, args.sources.seconds)?;
    let times = names.iter().zip(&sources).map(|(n, p)| crate::cmd::trend::profile_time(n, p).ok()).collect();
    let mut source_dirs: Vec<PathBuf> =
        args.source_path.iter().flat_map(|s| std::env::split_paths(s).collect::<Vec<_>>()).collect();
    if source_dirs.is_empty() {
        source_dirs.extend(std::env::current_dir().ok());
    }
    let profiles = Profiles {
        names,
        sources,
        times,
        base: source::load_all(&args.base, args.sources.seconds)?,
        source_dirs,
        trim_path: args.trim_path.clone(),
    };
    // Fail now, not on the first request, when the profiles cannot be combined.
    views::check(&profiles).map_err(|e| crate::error::bad(describe(&args.sources.sources), e))?;
    let open = args.open;
    server::serve(args.port, profiles, move |addr| {
        // The URL on stdout (flushed at once: tests and scripts read it); Ctrl-C stops.
        println!("heapprof: serving http://{addr}/");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if open {
            open_browser(&format!("http://{addr}/"));
        }
    })
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

/// An answer: status, content type and body (the server adds the headers
/// every answer carries).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

/// The answer to `method url` (the path and query as sent). Only fixed routes
/// exist: no part of a path ever names a file.
fn answer(method: &str, url: &str, profiles: &Profiles) -> Reply {
    if !matches!(method, "GET" | "HEAD") {
        return text(405, "only GET and HEAD are served\n");
    }
    let (path, raw_query) = url.split_once('?').unwrap_or((url, ""));
    let query = match Query::parse(raw_query) {
        Ok(q) => q,
        Err(e) => return text(400, &format!("bad query: {e}\n")),
    };
    if let Some((_, content_type, text)) = ASSETS.iter().find(|(route, _, _)| *route == path) {
        return body(200, content_type, text.as_bytes().to_vec());
    }
    match path {
        // Browsers ask for it unprompted; "nothing" is not an error.
        "/favicon.ico" => body(204, "image/x-icon", Vec::new()),
        "/api/info" => json(views::info(profiles)),
        "/api/top" => reply(views::top(profiles, &query).map(json)),
        "/api/peek" => reply(views::peek(profiles, &query).map(json)),
        "/api/list" => reply(source_view::list(profiles, &query).map(json)),
        "/api/timeline" => reply(timeline::timeline(profiles, &query).map(json)),
        "/flamegraph.svg" => reply(views::flamegraph(profiles, &query).map(svg)),
        "/callgraph.svg" => reply(views::call_graph(profiles, &query).map(svg)),
        _ => text(
            404,
            "not found: the routes are /, /api/info, /api/top, /api/peek, /api/list, /api/timeline, \
             /flamegraph.svg and /callgraph.svg\n",
        ),
    }
}

fn body(status: u16, content_type: &'static str, body: Vec<u8>) -> Reply {
    Reply { status, content_type, body }
}

fn text(status: u16, message: &str) -> Reply {
    body(status, "text/plain; charset=utf-8", message.as_bytes().to_vec())
}

/// A view's answer, or its error as a 4xx reply.
fn reply(view: Result<Reply, HttpError>) -> Reply {
    view.unwrap_or_else(|e| e.reply())
}

fn svg(image: Vec<u8>) -> Reply {
    body(200, "image/svg+xml", image)
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
