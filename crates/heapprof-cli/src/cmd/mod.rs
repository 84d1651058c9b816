//! One module per subcommand: its arguments and how it runs.

pub mod convert;
pub mod diff;
pub mod list;
pub mod merge;
pub mod peek;
pub mod tags;
pub mod top;
pub mod traces;
pub mod trend;
pub mod watch;
