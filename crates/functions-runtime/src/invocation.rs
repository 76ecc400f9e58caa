//! What a handler receives ([`Invocation`]) and what it answers ([`InvocationResult`]).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::Error;
use crate::trace::TraceContext;

/// One invocation of a function: the decoded trigger event plus its context.
#[derive(Debug, Clone)]
pub struct Invocation<T> {
    /// The decoded trigger payload, e.g. a [`ServiceBusMessage`](crate::ServiceBusMessage).
    pub event: T,
    /// Which function is invoked and under which invocation id.
    pub context: Context,
}

/// Per-invocation context taken from the request line, headers and `Metadata.sys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Function (folder) name from the request path `POST /<FunctionName>`.
    pub function_name: String,
    /// `X-Azure-Functions-InvocationId` header, else `Metadata.sys.RandGuid`, else a generated UUID.
    pub invocation_id: String,
    /// `Metadata.sys.RandGuid`, when the host sent one (and no body key shadowed `sys`).
    pub rand_guid: Option<String>,
    /// This invocation's W3C trace context, continuing the message's `Diagnostic-Id`; also
    /// available as [`TraceContext::current`] while the handler runs.
    pub trace: TraceContext,
}

/// The answer to the host: `{"Outputs": {..}, "Logs": [..], "ReturnValue": ..}`.
///
/// Keys inside `outputs` are output binding names (case-sensitive on the host side). Emit JSON
/// objects or arrays as output values: the host turns plain strings that happen to be valid base64
/// into bytes (NOTES §0.6).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InvocationResult {
    /// Output binding values by binding name.
    #[serde(rename = "Outputs")]
    pub outputs: Map<String, Value>,
    /// Lines the host logs at Information level (only on a 2xx answer).
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    /// Value for a `$return` output binding.
    #[serde(rename = "ReturnValue")]
    pub return_value: Value,
}

impl InvocationResult {
    /// Adds a line for the host's invocation log.
    pub fn log(mut self, line: impl Into<String>) -> Self {
        self.logs.push(line.into());
        self
    }

    /// Sets the value of output binding `name`.
    pub fn output(mut self, name: impl Into<String>, value: Value) -> Self {
        self.outputs.insert(name.into(), value);
        self
    }

    /// Sets the `$return` value.
    pub fn return_value(mut self, value: Value) -> Self {
        self.return_value = value;
        self
    }
}

/// What a handler may answer: `()` (nothing to say), an [`InvocationResult`], or a `Result` of
/// either whose error becomes a `500` answer (the host abandons the message, Service Bus
/// redelivers it).
pub trait IntoInvocationResult {
    /// The answer, or the error that fails the invocation.
    fn into_invocation_result(self) -> Result<InvocationResult, Error>;
}

impl IntoInvocationResult for () {
    fn into_invocation_result(self) -> Result<InvocationResult, Error> {
        Ok(InvocationResult::default())
    }
}

impl IntoInvocationResult for InvocationResult {
    fn into_invocation_result(self) -> Result<InvocationResult, Error> {
        Ok(self)
    }
}

impl<T: IntoInvocationResult, E: Into<Error>> IntoInvocationResult for Result<T, E> {
    fn into_invocation_result(self) -> Result<InvocationResult, Error> {
        self.map_err(Into::into)?.into_invocation_result()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_result_has_the_shape_the_host_reads() {
        let text = serde_json::to_string(&InvocationResult::default()).unwrap();
        assert_eq!(text, r#"{"Outputs":{},"Logs":[],"ReturnValue":null}"#);
    }

    #[test]
    fn builder_fills_each_part() {
        let result = InvocationResult::default()
            .log("one")
            .output("out", json!({"a": 1}))
            .return_value(json!("r"));
        assert_eq!(
            serde_json::to_value(&result).unwrap(),
            json!({"Outputs": {"out": {"a": 1}}, "Logs": ["one"], "ReturnValue": "r"})
        );
    }

    #[test]
    fn return_types_turn_into_results() {
        assert_eq!(
            ().into_invocation_result().unwrap(),
            InvocationResult::default()
        );
        let r = InvocationResult::default().log("x");
        assert_eq!(r.clone().into_invocation_result().unwrap(), r);
        assert_eq!(
            Ok::<(), std::io::Error>(())
                .into_invocation_result()
                .unwrap(),
            InvocationResult::default()
        );
        let e = Err::<InvocationResult, _>(std::io::Error::other("no"))
            .into_invocation_result()
            .unwrap_err();
        assert_eq!(e.to_string(), "no");
    }
}
