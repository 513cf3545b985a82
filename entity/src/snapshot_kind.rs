//! [`SnapshotKind`]: what a snapshot's markets stand for, which decides how it folds into
//! the current odds.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What a [`competitor_odds_snapshot`](super::competitor_odds_snapshot) holds, stored in
/// its `kind` column as `varchar(6)` (`ck_competitor_odds_snapshots_kind`).
///
/// The current odds (`competitor_market_odds_current`) are the fold of the history in
/// capture order, and the kind says how a snapshot takes part in it:
/// - [`Full`](SnapshotKind::Full): a whole capture, every market on offer. A market it
///   does not hold (or holds with no outcomes) is unavailable from its time. The column's
///   default, so snapshots written by other clients (the Python service's INSERTs, psql)
///   are full captures;
/// - [`Change`](SnapshotKind::Change): written by the change mode
///   (`competitor_db::store::record_odds`): only the markets that changed, each
///   a change; a market with no outcomes is one withdrawn at that time. A market it does not
///   hold is unchanged;
/// - [`Stale`](SnapshotKind::Stale): a full capture that arrived older than its event's
///   current state (a late or repeated capture). Kept as history, it changed nothing in
///   the current odds, and rebuilding them from history skips it too.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    strum::Display,
    strum::AsRefStr,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(6))")]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SnapshotKind {
    /// A whole capture, stored as `full`.
    #[default]
    #[sea_orm(string_value = "full")]
    Full,
    /// The changes of one capture in change mode, stored as `change`.
    #[sea_orm(string_value = "change")]
    Change,
    /// A full capture older than its event's state when it arrived, stored as `stale`.
    #[sea_orm(string_value = "stale")]
    Stale,
}
