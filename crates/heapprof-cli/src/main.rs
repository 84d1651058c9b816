//! `heapprof`: reports on pprof heap profiles (files or URLs), in the layouts of
//! `go tool pprof` or as JSON. The commands live in `cmd/`, one module each.

mod app;
mod cmd;
mod error;
mod names;
mod options;
mod output;
mod source;

fn main() -> std::process::ExitCode {
    app::main()
}
