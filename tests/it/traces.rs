//! What a call emitted through `tracing`, captured for assertions: every span with its
//! name, target, level, parent and fields (those recorded after it opened included), and
//! every event with its level, target, span and fields.
//!
//! [`traced`] makes the capturing layer the subscriber of one future only
//! (`WithSubscriber`), so the tests of this binary, which run in parallel, never see one
//! another's spans. The one global subscriber, [`Undecided`], records nothing: it keeps
//! every callsite asking the current subscriber each time. Without it, a callsite first
//! hit by a test without a subscriber while another test's subscriber was being created
//! could stay marked "never" (tracing-core caches that per callsite), and the traced test
//! then missed its events, as a run of the whole suite once showed.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use tracing::field::{Field, Visit};
use tracing::instrument::WithSubscriber;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Registry;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The target of the store's spans and events.
pub const STORE: &str = "competitor_db::store";

/// Field names and their values: strings as they are, everything else as its `Debug`
/// form (which for numbers and `%` display values is their plain text).
pub type Fields = BTreeMap<&'static str, String>;

/// A span as it stood when the call returned.
#[derive(Clone, Debug)]
pub struct SpanRecord {
    pub name: &'static str,
    pub target: String,
    pub level: Level,
    /// The name of the span it opened in, if any.
    pub parent: Option<&'static str>,
    pub fields: Fields,
}

/// An event.
#[derive(Clone, Debug)]
pub struct EventRecord {
    pub level: Level,
    pub target: String,
    /// The name of the span it happened in, if any.
    pub span: Option<&'static str>,
    pub fields: Fields,
}

impl EventRecord {
    /// Its message, `""` if it has none.
    pub fn message(&self) -> &str {
        self.fields.get("message").map_or("", String::as_str)
    }
}

/// Everything one call emitted, in order.
#[derive(Debug, Default)]
pub struct Trace {
    pub spans: Vec<SpanRecord>,
    pub events: Vec<EventRecord>,
}

impl Trace {
    /// The one span named `name`; fails the test if there is none or more than one.
    pub fn span(&self, name: &str) -> &SpanRecord {
        let named: Vec<&SpanRecord> = self.spans.iter().filter(|s| s.name == name).collect();
        match named.as_slice() {
            [span] => span,
            _ => panic!(
                "expected one span {name:?}, found {}: {:#?}",
                named.len(),
                self.spans
            ),
        }
    }

    /// The events of `target` at `level`, in order.
    pub fn events(&self, target: &str, level: Level) -> Vec<&EventRecord> {
        self.events
            .iter()
            .filter(|e| e.target == target && e.level == level)
            .collect()
    }
}

/// Runs `future` with the capturing layer as its subscriber, and only it; returns its
/// output and what it emitted.
pub async fn traced<F: Future>(future: F) -> (F::Output, Trace) {
    install_undecided();
    let capture = Capture::default();
    let output = future
        .with_subscriber(Registry::default().with(capture.clone()))
        .await;
    let trace = std::mem::take(&mut *capture.trace());
    (output, trace)
}

/// Installs [`Undecided`] as the global subscriber, once; the harness calls it before each
/// test, so it is in place before any callsite is hit.
pub fn install_undecided() {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        // Fails only when a global subscriber exists already, which then decides.
        let _ = tracing::subscriber::set_global_default(Undecided);
    });
}

/// The global subscriber: interested in every callsite "sometimes", so each one asks the
/// subscriber of the moment; records nothing itself.
struct Undecided;

impl Subscriber for Undecided {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        false
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// The layer: appends to a shared [`Trace`].
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Trace>>);

impl Capture {
    fn trace(&self) -> MutexGuard<'_, Trace> {
        // A panic elsewhere in the test must not hide what was captured.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where a span's record is in [`Trace::spans`], kept in the span's extensions.
struct Position(usize);

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Visitor::default();
        attrs.record(&mut fields);
        let metadata = attrs.metadata();
        let mut trace = self.trace();
        trace.spans.push(SpanRecord {
            name: metadata.name(),
            target: metadata.target().to_owned(),
            level: *metadata.level(),
            parent: span.parent().map(|parent| parent.name()),
            fields: fields.0,
        });
        span.extensions_mut()
            .insert(Position(trace.spans.len() - 1));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let Some(position) = span.extensions().get::<Position>().map(|p| p.0) else {
            return;
        };
        let mut fields = Visitor::default();
        values.record(&mut fields);
        self.trace().spans[position].fields.extend(fields.0);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Visitor::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        let record = EventRecord {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            span: ctx.event_span(event).map(|span| span.name()),
            fields: fields.0,
        };
        self.trace().events.push(record);
    }
}

/// Collects fields as text.
#[derive(Default)]
struct Visitor(Fields);

impl Visit for Visitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

/// The layer itself: fields given when a span opens and recorded later, its parent, and
/// an event's level, span and fields.
#[tokio::test]
async fn the_layer_keeps_late_fields_parents_and_events() {
    use tracing::Instrument;

    // Spans open when the future first runs, under the capturing subscriber.
    let call = async {
        let store_call = async {
            let span = tracing::info_span!(
                target: "cycle",
                "upsert_events",
                events = 3,
                rows_written = tracing::field::Empty
            );
            async {
                tracing::warn!(target: "cycle", code = "40P01", attempt = 1, "refused");
                tracing::Span::current().record("rows_written", 3);
            }
            .instrument(span)
            .await;
        };
        store_call
            .instrument(tracing::info_span!("scrape_cycle"))
            .await;
    };
    let ((), trace) = traced(call).await;

    let span = trace.span("upsert_events");
    assert_eq!(
        (span.target.as_str(), span.level, span.parent),
        ("cycle", Level::INFO, Some("scrape_cycle"))
    );
    let fields = Fields::from([("events", "3".to_owned()), ("rows_written", "3".to_owned())]);
    assert_eq!(span.fields, fields);
    let warnings = trace.events("cycle", Level::WARN);
    assert_eq!(warnings.len(), 1, "{:#?}", trace.events);
    assert_eq!(warnings[0].span, Some("upsert_events"));
    assert_eq!(warnings[0].message(), "refused");
    assert_eq!(
        (
            warnings[0].fields["code"].as_str(),
            warnings[0].fields["attempt"].as_str()
        ),
        ("40P01", "1")
    );
}
