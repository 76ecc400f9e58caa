//! A `tracing` subscriber writing one JSON object per event, with the current span's fields.
//!
//! The line shape is `tracing_subscriber`'s JSON format with the current span and no span list:
//! `{"timestamp":..,"level":..,"fields":{..},"target":..,"span":{"name":..,..}}`. It is written
//! here rather than composed from `tracing_subscriber` because that stack (registry, sharded
//! slab, layered formatter) was the largest part of the handler's start-up time: the Functions
//! host waits for it on every cold start (README, "Benchmark").

use std::cell::RefCell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_core::span::Current;

use super::filter::LogFilter;
use super::json::{JsonObject, merge_object, write_json_string, write_timestamp};

/// Where finished lines go: each call gets one complete line, newline included.
pub type Sink = Box<dyn Fn(&[u8]) + Send + Sync>;

/// JSON lines for events, filtered by a [`LogFilter`].
pub struct JsonSubscriber {
    filter: LogFilter,
    spans: Mutex<Spans>,
    sink: Sink,
    /// Tells this subscriber's entries in the per-thread span stack from another's (tests run
    /// several subscribers on one thread).
    instance: u64,
}

impl std::fmt::Debug for JsonSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSubscriber")
            .field("filter", &self.filter)
            .finish_non_exhaustive()
    }
}

/// Open spans, indexed by `Id - 1`; closed slots are reused.
#[derive(Default)]
struct Spans {
    slots: Vec<Option<SpanData>>,
    free: Vec<usize>,
}

struct SpanData {
    metadata: &'static Metadata<'static>,
    /// The span's fields as a JSON object (`{..}`), or empty when it has none.
    fields: String,
    /// Handles (`Span` clones) still open.
    refs: usize,
}

thread_local! {
    /// Spans entered on this thread, innermost last, tagged with the subscriber instance.
    static ENTERED: RefCell<Vec<(u64, Id)>> = const { RefCell::new(Vec::new()) };
}

static INSTANCES: AtomicU64 = AtomicU64::new(1);

impl JsonSubscriber {
    /// A subscriber writing lines to stdout.
    pub fn stdout(filter: LogFilter) -> Self {
        Self::with_sink(
            filter,
            Box::new(|line| {
                use std::io::Write as _;
                // A log line that cannot be written is dropped: logging never fails the handler.
                let _ = std::io::stdout().lock().write_all(line);
            }),
        )
    }

    /// A subscriber handing each line to `sink`.
    pub fn with_sink(filter: LogFilter, sink: Sink) -> Self {
        Self {
            filter,
            spans: Mutex::new(Spans::default()),
            sink,
            instance: INSTANCES.fetch_add(1, Ordering::Relaxed),
        }
    }

    fn spans(&self) -> std::sync::MutexGuard<'_, Spans> {
        // A panic while holding the lock leaves the span table consistent (every update is a
        // single assignment), so a poisoned lock is still usable.
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn current(&self) -> Option<Id> {
        ENTERED.with(|entered| {
            entered
                .borrow()
                .iter()
                .rev()
                .find(|(instance, _)| *instance == self.instance)
                .map(|(_, id)| id.clone())
        })
    }

    fn format(&self, event: &Event<'_>, line: &mut String) {
        let metadata = event.metadata();
        line.push_str("{\"timestamp\":\"");
        write_timestamp(line, time::OffsetDateTime::now_utc());
        line.push_str("\",\"level\":\"");
        line.push_str(metadata.level().as_str());
        line.push_str("\",\"fields\":");
        let mut fields = JsonObject::new(line);
        event.record(&mut fields);
        let _ = fields.finish();
        line.push_str(",\"target\":");
        let _ = write_json_string(line, metadata.target());
        let parent = if event.is_contextual() {
            self.current()
        } else {
            event.parent().cloned()
        };
        if let Some(id) = parent {
            let spans = self.spans();
            if let Some(span) = slot(&spans, &id) {
                line.push_str(",\"span\":{\"name\":");
                let _ = write_json_string(line, span.metadata.name());
                if span.fields.len() > 2 {
                    line.push(',');
                    line.push_str(&span.fields[1..]);
                } else {
                    line.push('}');
                }
            }
        }
        line.push_str("}\n");
    }
}

fn index(id: &Id) -> usize {
    usize::try_from(id.into_u64() - 1).unwrap_or(usize::MAX)
}

fn slot<'a>(spans: &'a Spans, id: &Id) -> Option<&'a SpanData> {
    spans.slots.get(index(id)).and_then(Option::as_ref)
}

fn slot_mut<'a>(spans: &'a mut Spans, id: &Id) -> Option<&'a mut SpanData> {
    spans.slots.get_mut(index(id)).and_then(Option::as_mut)
}

impl Subscriber for JsonSubscriber {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.filter.enabled(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.filter.enabled(metadata)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.filter.max_level())
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut fields = String::new();
        let mut object = JsonObject::new(&mut fields);
        attributes.record(&mut object);
        let _ = object.finish();
        let data = SpanData {
            metadata: attributes.metadata(),
            fields,
            refs: 1,
        };
        let mut spans = self.spans();
        let index = match spans.free.pop() {
            Some(index) => {
                spans.slots[index] = Some(data);
                index
            }
            None => {
                spans.slots.push(Some(data));
                spans.slots.len() - 1
            }
        };
        Id::from_u64(index as u64 + 1)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut extra = String::new();
        let mut object = JsonObject::new(&mut extra);
        values.record(&mut object);
        let _ = object.finish();
        if let Some(data) = slot_mut(&mut self.spans(), span) {
            merge_object(&mut data.fields, &extra);
        }
    }

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        thread_local! {
            static LINE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let emit = |line: &mut String| {
            self.format(event, line);
            (self.sink)(line.as_bytes());
        };
        LINE.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut line) => {
                line.clear();
                emit(&mut line);
            }
            // An event logged while formatting another (from a `Debug` impl): own buffer.
            Err(_) => emit(&mut String::new()),
        });
    }

    fn enter(&self, span: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push((self.instance, span.clone())));
    }

    fn exit(&self, span: &Id) {
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(at) = entered
                .iter()
                .rposition(|(instance, id)| *instance == self.instance && id == span)
            {
                entered.remove(at);
            }
        });
    }

    fn clone_span(&self, span: &Id) -> Id {
        if let Some(data) = slot_mut(&mut self.spans(), span) {
            data.refs += 1;
        }
        span.clone()
    }

    fn try_close(&self, span: Id) -> bool {
        let mut spans = self.spans();
        let Some(data) = slot_mut(&mut spans, &span) else {
            return false;
        };
        data.refs -= 1;
        if data.refs > 0 {
            return false;
        }
        let index = index(&span);
        spans.slots[index] = None;
        spans.free.push(index);
        true
    }

    fn current_span(&self) -> Current {
        let current = self.current().and_then(|id| {
            let metadata = slot(&self.spans(), &id)?.metadata;
            Some(Current::new(id, metadata))
        });
        current.unwrap_or_else(Current::none)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    type Lines = Arc<Mutex<Vec<serde_json::Value>>>;

    fn capture(filter: &str) -> (JsonSubscriber, Lines) {
        let lines = Lines::default();
        let sink_lines = lines.clone();
        let subscriber = JsonSubscriber::with_sink(
            LogFilter::parse(filter).unwrap(),
            Box::new(move |line| {
                let text = std::str::from_utf8(line).unwrap();
                assert!(
                    text.ends_with('\n') && text.matches('\n').count() == 1,
                    "{text}"
                );
                sink_lines
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(text).unwrap());
            }),
        );
        (subscriber, lines)
    }

    fn taken(lines: &Lines) -> Vec<serde_json::Value> {
        std::mem::take(&mut *lines.lock().unwrap())
    }

    #[test]
    fn span_fields_reach_event_lines_as_json() {
        let (subscriber, lines) = capture("info");
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "invocation",
                function = "f",
                invocation_id = %"id-\"1\"",
                message_id = Some("m"),
                delivery_count = 3u32,
                late = tracing::field::Empty,
                ratio = 0.5,
                ok = true,
            );
            span.record("late", "later");
            let _entered = span.enter();
            tracing::info!(step = "x", "inside");
        });
        let lines = taken(&lines);
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(
            line["span"],
            serde_json::json!({
                "name": "invocation",
                "function": "f",
                "invocation_id": "id-\"1\"",
                "message_id": "m",
                "delivery_count": 3,
                "late": "later",
                "ratio": 0.5,
                "ok": true,
            })
        );
        assert_eq!(
            line["fields"],
            serde_json::json!({"message": "inside", "step": "x"})
        );
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        let stamp = line["timestamp"].as_str().unwrap();
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{stamp}: {e}"));
    }

    #[test]
    fn lines_outside_spans_have_no_span_and_the_innermost_span_wins() {
        let (subscriber, lines) = capture("info");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before");
            let outer = tracing::info_span!("outer", a = 1);
            let _outer = outer.enter();
            {
                let inner = tracing::info_span!("inner");
                let _inner = inner.enter();
                tracing::warn!("in inner");
            }
            tracing::info!("back in outer");
        });
        let lines = taken(&lines);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].get("span").is_none(), "{}", lines[0]);
        assert_eq!(lines[1]["span"], serde_json::json!({"name": "inner"}));
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(
            lines[2]["span"],
            serde_json::json!({"name": "outer", "a": 1})
        );
    }

    #[test]
    fn the_filter_drops_events_by_target_and_level() {
        let (subscriber, lines) = capture("warn,loud=debug");
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("dropped");
            tracing::warn!("kept");
            tracing::debug!(target: "loud::inner", "kept too");
            tracing::trace!(target: "loud", "dropped too");
        });
        let messages: Vec<_> = taken(&lines)
            .iter()
            .map(|l| l["fields"]["message"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(messages, ["kept", "kept too"]);
    }

    #[test]
    fn closed_spans_free_their_slots_and_ids_are_reused() {
        let (subscriber, _lines) = capture("info");
        let subscriber = Arc::new(subscriber);
        let dispatch = tracing::Dispatch::from(subscriber.clone());
        tracing::dispatcher::with_default(&dispatch, || {
            for i in 0..1000 {
                let span = tracing::info_span!("invocation", i);
                let copy = span.clone();
                let _entered = copy.enter();
                drop(span);
            }
        });
        let spans = subscriber.spans();
        assert_eq!(spans.slots.len(), 1, "one slot reused for every span");
        assert!(spans.slots.iter().all(Option::is_none));
    }

    #[test]
    fn spans_stay_per_thread_under_concurrency() {
        let (subscriber, lines) = capture("info");
        let dispatch = tracing::Dispatch::new(subscriber);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let dispatch = dispatch.clone();
                std::thread::spawn(move || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        for i in 0..50 {
                            let span = tracing::info_span!("invocation", t, i);
                            let _entered = span.enter();
                            tracing::info!(t, i, "inside");
                        }
                    })
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let lines = taken(&lines);
        assert_eq!(lines.len(), 200);
        for line in lines {
            assert_eq!(line["span"]["t"], line["fields"]["t"], "{line}");
            assert_eq!(line["span"]["i"], line["fields"]["i"], "{line}");
        }
    }

    #[test]
    fn async_spans_follow_the_task_across_polls() {
        use tracing::Instrument as _;
        let (subscriber, lines) = capture("info");
        let dispatch = tracing::Dispatch::new(subscriber);
        let on_workers = dispatch.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .on_thread_start(move || {
                // Each worker logs to the test's subscriber for as long as it lives.
                std::mem::forget(tracing::dispatcher::set_default(&on_workers));
            })
            .build()
            .unwrap();
        let _guard = tracing::dispatcher::set_default(&dispatch);
        runtime.block_on(async {
            let tasks: Vec<_> = (0..8)
                .map(|n| {
                    tokio::spawn(
                        async move {
                            tokio::task::yield_now().await;
                            tracing::info!(n, "after yield");
                        }
                        .instrument(tracing::info_span!("task", n)),
                    )
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
        });
        let lines = taken(&lines);
        assert_eq!(lines.len(), 8);
        for line in lines {
            assert_eq!(line["span"]["n"], line["fields"]["n"], "{line}");
        }
    }
}
