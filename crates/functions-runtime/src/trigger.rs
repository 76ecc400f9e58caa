//! Per-function trigger options the runtime cannot read from `function.json` itself.

/// The trigger binding's `dataType` in `function.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DataType {
    /// Unset or `"string"`: the body as UTF-8 text, JSON-serialized again by the host.
    #[default]
    String,
    /// `"binary"`: the body bytes, sent as a base64 string.
    Binary,
}

/// How to find and decode the trigger value in an invocation's `Data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TriggerOptions {
    /// Must match the trigger binding's `dataType`.
    pub data_type: DataType,
    /// The trigger binding's `name`. When `None` (or not present in `Data`), a `Data` object with
    /// exactly one entry is accepted whatever its key.
    pub binding_name: Option<String>,
}
