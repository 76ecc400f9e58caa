//! The imageferry custom handler: configuration, the four pipeline steps and the two rollout
//! functions (one module each under [`steps`], the rollout machinery under [`rollout`]), the one
//! [`runner`] that runs all six, and what they share.
//!
//! `deployment-requested` → (`replication-check`)* → `image-version-replicated` →
//! (`vm-provisioning`)+ ; every step publishes its progress and exactly one terminal event
//! (succeeded, failed or rejected) on the `deployment-events` topic.

pub mod app;
pub mod bodies;
pub mod calls;
pub mod capacity;
pub mod clock;
pub mod config;
pub mod dead_letters;
pub mod emit;
pub mod image;
pub mod names;
pub mod outcome;
mod preflight;
pub mod retry;
pub mod rollout;
pub mod runner;
pub mod status;
pub mod steps;

pub use app::{App, StartupError};
pub use config::{AllowList, AllowedTarget, Config, ConfigError};
pub use steps::functions;
