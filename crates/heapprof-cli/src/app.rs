//! Argument parsing and dispatch; every error ends as one line on stderr.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cmd;
use crate::error::{ClosedPipe, exit_code, one_line};

/// Reports on pprof heap profiles, as `go tool pprof` prints them, or as JSON.
#[derive(Debug, Parser)]
#[command(
    name = "heapprof",
    version,
    after_help = "Examples:\n  heapprof top heap.pb.gz\n  heapprof top --sample-index alloc_space http://localhost:6060/debug/pprof/heap\n  heapprof diff before.pb.gz after.pb.gz\n\nExit status: 0 on success, 2 for bad input or usage, 1 for other failures."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Addresses without names, as in a profile of a stripped program or one written
    /// with HEAPPROF_SYMBOLIZE=0: name them from files found here as `heapprof
    /// symbolize` finds them (auto), or leave them (none)
    #[arg(long, global = true, value_enum, value_name = "MODE", default_value_t = Symbolize::Auto)]
    symbolize: Symbolize,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Symbolize {
    Auto,
    None,
}

#[derive(Debug, Subcommand)]
enum Command {
    Top(cmd::top::Args),
    List(cmd::list::Args),
    Peek(cmd::peek::Args),
    Traces(cmd::traces::Args),
    Tags(cmd::tags::Args),
    Diff(cmd::diff::Args),
    Flamegraph(cmd::flamegraph::Args),
    Graph(cmd::graph::Args),
    Merge(cmd::merge::Args),
    Push(cmd::push::Args),
    Convert(cmd::convert::Args),
    Symbolize(cmd::symbolize::Args),
    Trend(cmd::trend::Args),
    Watch(cmd::watch::Args),
    Web(cmd::web::Args),
    Run(cmd::run::Args),
}

pub fn main() -> ExitCode {
    // A panic is a bug; it still ends as one line, without a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        eprintln!("heapprof: internal error: {}", msg.split_whitespace().collect::<Vec<_>>().join(" "));
    }));
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    crate::source::set_name_addresses(matches!(cli.symbolize, Symbolize::Auto));
    let result = match cli.command {
        Command::Top(a) => cmd::top::run(&a),
        Command::List(a) => cmd::list::run(&a),
        Command::Peek(a) => cmd::peek::run(&a),
        Command::Traces(a) => cmd::traces::run(&a),
        Command::Tags(a) => cmd::tags::run(&a),
        Command::Diff(a) => cmd::diff::run(&a),
        Command::Flamegraph(a) => cmd::flamegraph::run(&a),
        Command::Graph(a) => cmd::graph::run(&a),
        Command::Merge(a) => cmd::merge::run(&a),
        Command::Push(a) => cmd::push::run(&a),
        Command::Convert(a) => cmd::convert::run(&a),
        Command::Symbolize(a) => cmd::symbolize::run(&a),
        Command::Trend(a) => cmd::trend::run(&a),
        Command::Watch(a) => cmd::watch::run(&a),
        Command::Web(a) => cmd::web::run(&a),
        Command::Run(a) => cmd::run::run(&a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<ClosedPipe>() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("heapprof: {}", one_line(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The command line, with options that take a value accepting a negative number
/// (`--nodefraction -1`), so that the option rejects it with its own message
/// rather than clap taking `-1` for an unknown flag.
fn parse() -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let negative_values = |a: clap::Arg| {
        if a.is_positional() || !a.get_action().takes_values() { a } else { a.allow_negative_numbers(true) }
    };
    let command = Cli::command().mut_args(negative_values).mut_subcommands(|c| c.mut_args(negative_values));
    Cli::from_arg_matches(&command.try_get_matches()?)
}

/// `--help` and `--version` print normally; a usage error is one line, status 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        // `heapprof` alone: the help, on stderr, as a usage error.
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            eprintln!("heapprof: {}", usage_line(&e.render().to_string(), named_subcommand().as_deref()));
            ExitCode::from(2)
        }
    }
}

/// clap's multi-line message as one line: the message with the names clap lists
/// under it, its tips in parentheses, and where to find help, e.g. `top: the
/// following required arguments were not provided: <SOURCE>... (see heapprof top
/// --help)`.
fn usage_line(text: &str, subcommand: Option<&str>) -> String {
    let mut message = Vec::new();
    let mut tips = String::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(tip) = line.strip_prefix("tip:") {
            tips = tips + " (" + tip.trim() + ")";
        } else if !line.starts_with("Usage:") && !line.starts_with("For more information") {
            message.push(line.trim_start_matches("error:").trim());
        }
    }
    let message = if message.is_empty() { "bad usage".to_string() } else { message.join(" ") };
    match subcommand {
        Some(sub) => format!("{sub}: {message}{tips} (see heapprof {sub} --help)"),
        None => format!("{message}{tips} (see heapprof --help)"),
    }
}

/// The subcommand named on the command line (the first argument naming one):
/// some errors, a bad value for instance, do not say which it was.
fn named_subcommand() -> Option<String> {
    use clap::CommandFactory;
    let command = Cli::command();
    std::env::args_os()
        .skip(1)
        .filter_map(|a| a.into_string().ok())
        .find(|a| command.find_subcommand(a).is_some())
}
