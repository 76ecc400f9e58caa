//! Runs the imageferry pipeline on one machine, the way it runs in Azure, with local stand-ins.
//!
//! - the Azure stand-in (`azure-sim` binary: Entra + ARM) as a child process;
//! - the real `handler` binary as a child process, started the way the Functions host starts a
//!   custom handler (`FUNCTIONS_CUSTOMHANDLER_PORT`, readiness probe on `GET /`);
//! - a Service Bus capture ([`servicebus_capture`]) the handler sends to over the REST protocol;
//! - a [`pump::Pump`] that delivers captured queue messages to the function bound to that queue
//!   (read from the `function.json` files, as the host does), encoded as the host encodes them,
//!   with peek-lock semantics: completed on 2xx, redelivered with a higher delivery count
//!   otherwise, dead-lettered after the maximum delivery count.
//!
//! The end-to-end tests (and `imageferry dev`, for the handler's settings and the build of the
//! binaries) use these pieces. Users run `imageferry dev`, which replaced the old
//! `imageferry-local` binary: the same stand-ins behind the real Functions host stand-in
//! (`functions-host`) and the durable Service Bus stand-in (`servicebus-emulator`).

pub mod app_root;
pub mod logs;
pub mod processes;
pub mod pump;
pub mod stack;

pub use stack::{LocalStack, LocalStackOptions, StackError};
