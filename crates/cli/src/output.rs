//! Human or JSON output, chosen per command with `--output`.

use serde::Serialize;

/// `--output human|json`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct OutputArgs {
    /// Output format: `human` (default; progress on stderr) or `json` (one JSON document on stdout).
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

/// Prints `value` as pretty JSON on stdout.
pub fn print_json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    );
}

/// A usage/configuration error: printed on stderr, exit code 4.
pub fn usage_error(message: impl std::fmt::Display) -> crate::exit::Exit {
    eprintln!("imageferry: {message}");
    crate::exit::Exit::Usage
}
