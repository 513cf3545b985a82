//! What services call to store whole competitor palimpsests.
//!
//! Every function takes a pool (`DatabaseConnection`) or the caller's own
//! `DatabaseTransaction`, and returns a `Send` future, so it can be spawned or awaited in
//! an axum handler. Each logical write is one transaction (a savepoint inside the
//! caller's), so a failure writes nothing. Input is checked with the entity crate's rules
//! before anything is written, and errors name the row and the field ([`StoreError`]).
//!
//! Concurrent calls are safe: every write locks competitor event rows in one order (see
//! [`entity::competitor_event::Entity::update_in_key_order`]), so two competitors' scrape
//! cycles and several replicas run side by side without deadlocking one another. A write
//! the database still refuses for lock contention is retried whole up to [`ATTEMPTS`]
//! times, then fails with [`StoreError::Contention`], having written nothing.
//!
//! A scrape cycle of one competitor:
//! 1. [`upsert_tournaments`], then [`upsert_events`] with the returned tournament ids;
//! 2. [`soft_delete_missing`] with the external ids of the whole palimpsest;
//! 3. [`link_betpawa_events`] to match events to Betpawa's by SportRadar id;
//! 4. the odds of every event, in one of two modes on the same tables:
//!    [`record_odds`] (change mode: history only for markets that changed, plus one
//!    current row per market) or [`write_snapshots`] (full mode: every capture whole).
//!
//! Reads: [`current_odds`] and [`current_odds_for_betpawa_events`] (both modes: the
//! current odds are the fold of the history whoever wrote it), [`latest_snapshots`] (full
//! mode), [`odds_history`] (both). Retention: [`purge_snapshots_before`],
//! [`purge_deleted_before`]. Repair: [`rebuild_current_odds`].
//!
//! Every type here works with serde: the reads' results serialize (an axum handler returns
//! `Json(current_odds_for_betpawa_events(..).await?)`; maps keyed by id become JSON objects
//! keyed by the id as text, timestamps RFC 3339, [`entity::CompetitorSource`] its stored
//! string), and so do the write counts; the inputs ([`TournamentUpsert`], [`EventUpsert`],
//! [`NewSnapshot`], [`NewMarket`]) deserialize from the same shape, so a scraper can hand
//! a palimpsest over as JSON.
//!
//! Tracing: every public call opens an `info` span named after it, target
//! `competitor_db::store`, with the sizes of its input and of what it wrote or read as
//! fields, never odds, names or credentials; a retry is a `warn` event, retries run out an
//! `error` event (docs/design.md, "Tracing").

pub(crate) mod backend;
mod connection;
mod current;
mod error;
mod latest;
mod link;
mod newest;
mod rebuild;
mod retention;
mod retry;
pub(crate) mod snapshots;
mod upsert;

pub use connection::StoreConnection;
pub use current::{CompetitorOdds, CurrentOdds, current_odds, current_odds_for_betpawa_events};
pub use error::StoreError;
pub use latest::{LatestSnapshot, OddsPoint, latest_snapshots, odds_history};
pub use link::link_betpawa_events;
pub use rebuild::{RebuiltOdds, rebuild_current_odds};
pub use retention::{PurgedDeleted, PurgedSnapshots, purge_deleted_before, purge_snapshots_before};
pub use retry::ATTEMPTS;
pub use snapshots::{NewMarket, NewSnapshot, RecordedOdds, record_odds, write_snapshots};
pub use upsert::{
    EventUpsert, TournamentUpsert, soft_delete_missing, upsert_events, upsert_tournaments,
};

/// The `tracing` target of every span and event of the store, whichever module emits it:
/// services filter on it (`RUST_LOG=competitor_db::store=info`), and it does not move
/// when a call moves between the store's private modules.
pub(crate) const TRACING_TARGET: &str = "competitor_db::store";
