//! Runs the imageferry pipeline on one machine, the way `imageferry dev` runs it, one step at a
//! time for tests:
//!
//! - the Azure stand-in (`azure-sim` binary: Entra + ARM) as a child process;
//! - the Service Bus stand-in ([`servicebus_emulator`], in this process, in memory, with its
//!   journal of sends) that the handler sends to over the REST protocol;
//! - the real `handler` binary, started and supervised by the local Functions host's code
//!   (`functions_host::Supervisor`), from the app definition its reader gives
//!   (`functions_host::app`);
//! - a [`pump::Pump`] that peek-locks one message at a time from the stand-in and delivers it
//!   with the host's own delivery code (`functions_host::Dispatcher`): completed on 2xx,
//!   abandoned otherwise, dead-lettered by the stand-in after the queue's maximum delivery count.
//!
//! The end-to-end tests (and `imageferry dev`, for the Azure stand-in and the build of the
//! binaries) use these pieces. `imageferry dev` runs the same stand-ins with the host's own
//! receivers instead of the pump.

pub mod logs;
pub mod processes;
pub mod pump;
pub mod stack;

pub use stack::{LocalStack, LocalStackOptions, StackError};
