//! Human or JSON output, chosen per command with `--output`, and the printing every command uses.
//!
//! Results go to stdout, progress and errors to stderr, in every mode. Printing never panics: a
//! closed pipe (`imageferry status | head -1`, `| true`) or a closed stderr loses the rest of the
//! text, and the command still ends with its own exit code (std's `println!` panics instead).

use serde::Serialize;
use std::io::Write as _;

/// `--output human|json`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct OutputArgs {
    /// Output format: `human` (default) or `json` (one JSON document on stdout). Progress goes to
    /// stderr either way.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Human)]
    pub output: Format,
}

/// Output format.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Text for people.
    Human,
    /// One JSON document.
    Json,
}

impl OutputArgs {
    /// Whether JSON was asked for.
    pub fn json(self) -> bool {
        self.output == Format::Json
    }
}

/// Writes to stdout; a failed write (closed pipe) is dropped.
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_fmt(args);
}

/// Writes to stderr; a failed write is dropped.
pub fn write_err(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args);
}

/// `println!` that survives a closed stdout.
macro_rules! outln {
    () => { $crate::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` that survives a closed stderr.
macro_rules! errln {
    () => { $crate::output::write_err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that survives a closed stderr.
macro_rules! err {
    ($($arg:tt)*) => { $crate::output::write_err(format_args!($($arg)*)) };
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
}

/// A usage/configuration error: printed on stderr, exit code 4.
pub fn usage_error(message: impl std::fmt::Display) -> crate::exit::Exit {
    errln!("imageferry: {message}");
    crate::exit::Exit::Usage
}
