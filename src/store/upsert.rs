//! Palimpsest upserts: tournaments and events keyed by `(source, external_id)`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::validation::ValidationError;
use entity::{CompetitorSource, clock, competitor_event, competitor_tournament};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, DbErr, EntityTrait, ExprTrait, IntoActiveModel,
    Iterable, Set,
};
use tracing::field::Empty;

use serde::{Deserialize, Serialize};

use super::TRACING_TARGET;
use super::backend::{is_in_texts, rows_per_statement};
use super::connection::StoreConnection;
use super::error::StoreError;
use super::retry::{self, in_transaction};

/// A competitor tournament as the scraper read it from a palimpsest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TournamentUpsert {
    /// The competitor.
    pub source: CompetitorSource,
    /// The sport (`sports.id`).
    pub sport_id: i32,
    /// The competitor's name for the tournament.
    pub name: String,
    /// Country as the competitor spells it.
    pub country_raw: Option<String>,
    /// Normalised country code, three ASCII capitals.
    pub country_iso: Option<String>,
    /// The competitor's own tournament id.
    pub external_id: String,
    /// SportRadar tournament id, if published, in the stored form the Python service
    /// shares: the bare number as text (`17`, not `sr:tournament:17`). Turn what the
    /// competitor publishes into it with
    /// [`sportradar::tournament_id`](crate::sportradar::tournament_id).
    pub sportradar_id: Option<String>,
}

/// A competitor event as the scraper read it from a palimpsest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventUpsert {
    /// The competitor.
    pub source: CompetitorSource,
    /// Its competitor tournament (an id returned by [`upsert_tournaments`]).
    pub tournament_id: i32,
    /// The competitor's display name.
    pub name: String,
    /// Home team.
    pub home_team: String,
    /// Away team.
    pub away_team: String,
    /// Scheduled start; stored truncated to whole microseconds, a year outside 1..=9999
    /// is refused.
    pub kickoff: DateTime<Utc>,
    /// The competitor's own event id.
    pub external_id: String,
    /// SportRadar match id, the cross-platform matching key, in the stored form the
    /// Python service shares: the bare number as text (`61300417`, not
    /// `sr:match:61300417`). Another form never matches a Betpawa event and makes the two
    /// writers rewrite each other's rows; turn what the competitor publishes into it with
    /// [`sportradar::match_id`](crate::sportradar::match_id).
    pub sportradar_id: String,
}

impl TournamentUpsert {
    /// The row this upsert writes, as an ActiveModel (for writes through the entity).
    pub fn to_active_model(&self) -> competitor_tournament::ActiveModel {
        self.active_model(clock::now())
    }

    fn active_model(&self, now: DateTime<Utc>) -> competitor_tournament::ActiveModel {
        competitor_tournament::ActiveModel {
            source: Set(self.source),
            sport_id: Set(self.sport_id),
            name: Set(self.name.clone()),
            country_raw: Set(self.country_raw.clone()),
            country_iso: Set(self.country_iso.clone()),
            external_id: Set(self.external_id.clone()),
            sportradar_id: Set(self.sportradar_id.clone()),
            created_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        }
    }
}

impl EventUpsert {
    /// The row this upsert writes, as an ActiveModel (for writes through the entity).
    pub fn to_active_model(&self) -> competitor_event::ActiveModel {
        self.active_model(clock::now())
    }

    fn active_model(&self, now: DateTime<Utc>) -> competitor_event::ActiveModel {
        competitor_event::ActiveModel {
            source: Set(self.source),
            tournament_id: Set(self.tournament_id),
            name: Set(self.name.clone()),
            home_team: Set(self.home_team.clone()),
            away_team: Set(self.away_team.clone()),
            kickoff: Set(clock::truncate_to_micros(self.kickoff)),
            external_id: Set(self.external_id.clone()),
            sportradar_id: Set(self.sportradar_id.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            deleted_at: Set(None),
            ..Default::default()
        }
    }
}

/// Inserts new tournaments, updates the mutable fields of existing ones and revives
/// soft-deleted ones (same id, `deleted_at` back to NULL). Returns the id of every row,
/// in input order.
///
/// Any batch size: rows go in statements sized under the bind-parameter limit, all in
/// one transaction (a savepoint inside the caller's). Rows are written in key order
/// (`source`, then `external_id`, byte-wise), the order every store call locks them in,
/// so concurrent scrape cycles do not deadlock; a write refused for lock contention
/// anyway is retried whole a few times.
///
/// # Errors
/// - [`StoreError::InvalidRow`] naming the row and field, checked before anything is
///   written;
/// - [`StoreError::DuplicateInBatch`] when a `(source, external_id)` appears twice (the
///   same external id under both competitors is two rows, and fine);
/// - [`StoreError::ForeignKeyViolation`] for an unknown `sport_id`;
/// - [`StoreError::Contention`] when every attempt was refused for lock contention;
/// - [`StoreError::Db`] for other database errors. Nothing is written on any error.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        source = batch_source(tournaments).map(tracing::field::display),
        tournaments = tournaments.len(),
        rows_written = Empty,
        attempts = Empty,
    ),
)]
pub async fn upsert_tournaments<C>(
    db: &C,
    tournaments: &[TournamentUpsert],
) -> Result<Vec<i32>, StoreError>
where
    C: StoreConnection,
{
    upsert(db, tournaments).await
}

/// Inserts new events, updates the mutable fields of existing ones, revives
/// soft-deleted ones (same id, `deleted_at` back to NULL) and moves `updated_at`. Returns
/// the id of every row, in input order. The Betpawa link is left as it is; see
/// [`link_betpawa_events`](super::link_betpawa_events).
///
/// Batching, lock order, retries and transaction as [`upsert_tournaments`].
///
/// # Errors
/// As [`upsert_tournaments`]; an unknown `tournament_id` is a
/// [`StoreError::ForeignKeyViolation`]. Nothing is written on any error.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        source = batch_source(events).map(tracing::field::display),
        events = events.len(),
        rows_written = Empty,
        attempts = Empty,
    ),
)]
pub async fn upsert_events<C>(db: &C, events: &[EventUpsert]) -> Result<Vec<i32>, StoreError>
where
    C: StoreConnection,
{
    upsert(db, events).await
}

/// A row of a palimpsest, upserted by its natural key `(source, external_id)`.
trait PalimpsestRow {
    /// The row as written.
    type ActiveModel: ActiveModelTrait<Entity = Self::Entity> + Clone + Send + Sync;
    /// Its table.
    type Entity: EntityTrait;

    /// Its natural key.
    fn key(&self) -> (CompetitorSource, &str);
    /// The row to write, `now` its creation (and update) time.
    fn active_model(&self, now: DateTime<Utc>) -> Self::ActiveModel;
    /// The entity crate's write rules for it.
    fn validate(model: &Self::ActiveModel) -> Result<(), ValidationError>;
    /// The columns of the natural key, `source` and `external_id`.
    fn key_columns() -> [<Self::Entity as EntityTrait>::Column; 2];
    /// The columns an existing row takes from the palimpsest.
    fn updated() -> Vec<<Self::Entity as EntityTrait>::Column>;
    /// The natural key and id of a row written.
    fn written(model: <Self::Entity as EntityTrait>::Model) -> (Key, i32);
}

/// The [`PalimpsestRow`] of `$row`, written to the table of the entity module `$table`;
/// an existing row takes the columns `$updated` from the palimpsest.
macro_rules! palimpsest_row {
    ($row:ty, $table:ident, [$($updated:ident),+ $(,)?]) => {
        impl PalimpsestRow for $row {
            type ActiveModel = $table::ActiveModel;
            type Entity = $table::Entity;

            fn key(&self) -> (CompetitorSource, &str) {
                (self.source, &self.external_id)
            }

            fn active_model(&self, now: DateTime<Utc>) -> Self::ActiveModel {
                <$row>::active_model(self, now)
            }

            fn validate(model: &Self::ActiveModel) -> Result<(), ValidationError> {
                model.validate()
            }

            fn key_columns() -> [$table::Column; 2] {
                [$table::Column::Source, $table::Column::ExternalId]
            }

            fn updated() -> Vec<$table::Column> {
                vec![$($table::Column::$updated),+]
            }

            fn written(model: $table::Model) -> (Key, i32) {
                ((model.source, model.external_id), model.id)
            }
        }
    };
}

palimpsest_row! {
    TournamentUpsert, competitor_tournament,
    [SportId, Name, CountryRaw, CountryIso, SportradarId, DeletedAt]
}
palimpsest_row! {
    EventUpsert, competitor_event,
    [TournamentId, Name, HomeTeam, AwayTeam, Kickoff, SportradarId, UpdatedAt, DeletedAt]
}

/// The natural key of competitor tournaments and events.
type Key = (CompetitorSource, String);

/// The competitor of every row of a batch, for its span: `mixed` when it holds both,
/// `None` when it is empty.
fn batch_source<R: PalimpsestRow>(rows: &[R]) -> Option<&'static str> {
    let (first, rest) = rows.split_first()?;
    let source = first.key().0;
    if rest.iter().all(|row| row.key().0 == source) {
        Some(source.as_str())
    } else {
        Some("mixed")
    }
}

/// Validates `rows`, writes them in key order in statements sized under the
/// bind-parameter limit, all in one transaction retried whole on contention, and returns
/// their ids in input order.
async fn upsert<C, R>(db: &C, rows: &[R]) -> Result<Vec<i32>, StoreError>
where
    C: StoreConnection,
    R: PalimpsestRow,
    <R::Entity as EntityTrait>::Model: IntoActiveModel<R::ActiveModel>,
{
    let models = in_key_order(rows)?;
    let on_conflict = OnConflict::columns(R::key_columns())
        .update_columns(R::updated())
        .to_owned();
    let columns = <R::Entity as EntityTrait>::Column::iter().count();
    let chunk = rows_per_statement(db.get_database_backend(), columns);
    let mut ids = in_transaction!(db, |txn| async {
        let mut ids = HashMap::with_capacity(models.len());
        for models in models.chunks(chunk) {
            let written = R::Entity::insert_many(models.to_vec())
                .on_conflict(on_conflict.clone())
                .exec_with_returning(&txn)
                .await?;
            ids.extend(written.into_iter().map(R::written));
        }
        Ok::<_, StoreError>(ids)
    })
    .await?;
    tracing::Span::current().record("rows_written", ids.len());
    rows.iter()
        .map(|row| {
            let (source, external_id) = row.key();
            ids.remove(&(source, external_id.to_owned()))
                .ok_or_else(|| {
                    StoreError::Db(DbErr::RecordNotFound(
                        "an upserted row came back without its key".to_owned(),
                    ))
                })
        })
        .collect()
}

/// Validates every row, refuses duplicate keys, and returns the rows to write in lock
/// order: `source`, then `external_id`, compared byte-wise as PostgreSQL's `COLLATE "C"`
/// does (see [`competitor_event::Entity::update_in_key_order`]).
fn in_key_order<R: PalimpsestRow>(rows: &[R]) -> Result<Vec<R::ActiveModel>, StoreError> {
    let now = clock::now();
    let mut seen: HashMap<(CompetitorSource, &str), usize> = HashMap::with_capacity(rows.len());
    let mut keyed = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let (source, external_id) = row.key();
        if let Some(first) = seen.insert((source, external_id), index) {
            return Err(StoreError::DuplicateInBatch {
                key: "(source, external_id)",
                value: format!("({source}, {external_id})"),
                first,
                second: index,
            });
        }
        let model = row.active_model(now);
        R::validate(&model).map_err(|error| StoreError::InvalidRow { index, error })?;
        keyed.push(((source.as_str(), external_id), model));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, model)| model).collect())
}

/// After a full palimpsest of `source`, soft-deletes that source's active events whose
/// external id is not in `seen`. Returns how many were soft-deleted. Events of the other
/// source, and events already deleted, are not touched; the next upsert that meets a
/// deleted event revives it.
///
/// One statement in its own transaction (a savepoint inside the caller's), locking rows
/// in the store's key order like [`link_betpawa_events`](super::link_betpawa_events).
///
/// # Errors
/// [`StoreError::EmptyPalimpsest`] when `seen` is empty (nothing is changed: an empty
/// scrape is far likelier a failed one); [`StoreError::Contention`] when every attempt
/// was refused for lock contention; [`StoreError::Db`] for other database errors.
#[tracing::instrument(
    target = TRACING_TARGET,
    level = "info",
    skip_all,
    fields(
        source = %source,
        seen = seen.len(),
        rows_changed = Empty,
        attempts = Empty,
    ),
)]
pub async fn soft_delete_missing<C>(
    db: &C,
    source: CompetitorSource,
    seen: &[String],
) -> Result<u64, StoreError>
where
    C: StoreConnection,
{
    use competitor_event::Column;
    if seen.is_empty() {
        return Err(StoreError::EmptyPalimpsest { competitor: source });
    }
    let backend = db.get_database_backend();
    let missing = Condition::all()
        .add(Column::Source.eq(source))
        .add(Column::DeletedAt.is_null())
        .add(is_in_texts(backend, "external_id", seen).not());
    let now = clock::now();
    let soft_delete = competitor_event::Entity::update_in_key_order(backend, missing)
        .value(Column::DeletedAt, now)
        .value(Column::UpdatedAt, now)
        .to_owned();
    let soft_deleted = retry::execute(db, &soft_delete).await?;
    tracing::Span::current().record("rows_changed", soft_deleted);
    Ok(soft_deleted)
}
