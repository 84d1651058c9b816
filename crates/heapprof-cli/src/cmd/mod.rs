//! One module per subcommand: its arguments and how it runs.

pub mod convert;
pub mod diff;
pub mod flamegraph;
pub mod graph;
pub mod list;
pub mod merge;
pub mod peek;
pub mod push;
pub mod run;
pub mod symbolize;
pub mod tags;
pub mod top;
pub mod traces;
pub mod trend;
pub mod watch;
pub mod web;
