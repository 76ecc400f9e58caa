//! Exit codes that mean something to a pipeline (documented in the README).

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the deployment (or every deployment) succeeded, or the command did what it was asked.
    Succeeded,
    /// 1: a deployment failed, or a check found a problem.
    Failed,
    /// 2: a request was rejected.
    Rejected,
    /// 3: a wait timed out.
    TimedOut,
    /// 4: usage or configuration error, including every command-line error clap reports
    /// (unknown flag, missing or invalid value, no subcommand).
    Usage,
}

impl Exit {
    /// The outcome's name in JSON output: `succeeded`, `failed`, `rejected`, `timed-out`, `usage`.
    pub fn name(self) -> &'static str {
        match self {
            Exit::Succeeded => "succeeded",
            Exit::Failed => "failed",
            Exit::Rejected => "rejected",
            Exit::TimedOut => "timed-out",
            Exit::Usage => "usage",
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(match exit {
            Exit::Succeeded => 0,
            Exit::Failed => 1,
            Exit::Rejected => 2,
            Exit::TimedOut => 3,
            Exit::Usage => 4,
        })
    }
}
