//! SeaORM entities of the competitor odds schema.
//!
//! One module per table: the competitor tables ([`competitor_tournament`],
//! [`competitor_event`], [`competitor_odds_snapshot`], [`competitor_market_odds`],
//! [`competitor_market_odds_current`]) and the
//! base tables their foreign keys point at ([`sport`], [`tournament`], [`event`],
//! [`scrape_run`]), which the Python service owns. Beside them: the [`CompetitorSource`]
//! enum, the [`SnapshotKind`] of a snapshot, typed market [`outcome`]s, the [`soft_delete`] filters and the [`validation`]
//! rules every write path shares.
//!
//! Timestamps are `timestamptz`, read and written as [`chrono::DateTime<Utc>`](https://docs.rs/chrono/0.4/chrono/struct.DateTime.html).

#![warn(missing_docs, clippy::missing_errors_doc)]

pub mod clock;
pub mod competitor_event;
pub mod competitor_market_odds;
pub mod competitor_market_odds_current;
pub mod competitor_odds_snapshot;
pub mod competitor_source;
pub mod competitor_tournament;
pub mod event;
pub mod outcome;
pub mod prelude;
pub mod scrape_run;
pub mod snapshot_kind;
pub mod soft_delete;
pub mod sport;
pub mod tournament;
pub mod validation;

pub use competitor_source::CompetitorSource;
pub use snapshot_kind::SnapshotKind;
