//! The deployment status store: what the handler writes for every event and what `imageferry
//! status` / `request --wait` (and any number of other readers) read, in Azure Table Storage.
//!
//! Layout of table `deployments` (one partition per deployment):
//!
//! | RowKey | entity |
//! |---|---|
//! | `status` | the current status: `Status`, `Step`, `UpdatedAt`, `Detail`, `VmId`, `PublicIpAddress`, `PrivateIpAddress`, `ErrorCode`, `ErrorMessage`, `ErrorHint`, `ImageId`, `ImageVersion`, `ImageTenantId`, `TargetTenantId`, `TargetSubscriptionId`, `TargetResourceGroup`, `Location`, `VmName`, `ProgressRegion`, `ProgressState`, `ProgressPercent`, `AcceptedAt` |
//! | `event-{at}-{status}` | one per event (`at` in UTC as `YYYY-MM-DDThh:mm:ss.nnnnnnnnnZ`, so row keys sort by time): the event's fields, same names, plus `At` |
//! | `terminal` | the deployment's one terminal outcome, claimed with an insert-only write before its event is published (module [`terminal`]) |
//!
//! Writes are upserts (an event recorded twice is one row), except the terminal claim. The status entity is merged, so the
//! image and target written with `accepted` stay; a terminal status (`succeeded`, `failed`,
//! `rejected`) is never replaced by a later non-terminal event, and a non-terminal one only by an
//! event at the same time or later.

mod entity;
pub mod rollout;
mod settings;
mod store;
pub mod terminal;

pub use entity::{DeploymentStatus, EventRecord, Progress, event_row_key};
pub use settings::{StatusSettings, TABLE_SETTINGS};
pub use store::{ListFilter, Recorded, StatusStore, StoreError};
pub use terminal::{Claim, TerminalClaim};

/// The table name.
pub const TABLE: &str = "deployments";
/// RowKey of the current-status entity.
pub const STATUS_ROW: &str = "status";
