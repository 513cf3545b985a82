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

use super::backend::{is_in_texts, rows_per_statement};
use super::connection::StoreConnection;
use super::error::StoreError;
use super::retry::{self, in_transaction};

/// A competitor tournament as the scraper read it from a palimpsest.
#[derive(Clone, Debug, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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
pub async fn upsert_tournaments<C>(
    db: &C,
    tournaments: &[TournamentUpsert],
) -> Result<Vec<i32>, StoreError>
where
    C: StoreConnection,
{
    use competitor_tournament::Column;
    let now = clock::now();
    let rows = prepare(
        tournaments,
        |t| (t.source, t.external_id.as_str()),
        |t| t.active_model(now),
        competitor_tournament::ActiveModel::validate,
    )?;
    let on_conflict = OnConflict::columns([Column::Source, Column::ExternalId])
        .update_columns([
            Column::SportId,
            Column::Name,
            Column::CountryRaw,
            Column::CountryIso,
            Column::SportradarId,
            Column::DeletedAt,
        ])
        .to_owned();
    let ids = upsert_rows(db, &rows, on_conflict, |row| {
        ((row.source, row.external_id), row.id)
    })
    .await?;
    in_input_order(tournaments, ids, |t| (t.source, t.external_id.clone()))
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
pub async fn upsert_events<C>(db: &C, events: &[EventUpsert]) -> Result<Vec<i32>, StoreError>
where
    C: StoreConnection,
{
    use competitor_event::Column;
    let now = clock::now();
    let rows = prepare(
        events,
        |e| (e.source, e.external_id.as_str()),
        |e| e.active_model(now),
        competitor_event::ActiveModel::validate,
    )?;
    let on_conflict = OnConflict::columns([Column::Source, Column::ExternalId])
        .update_columns([
            Column::TournamentId,
            Column::Name,
            Column::HomeTeam,
            Column::AwayTeam,
            Column::Kickoff,
            Column::SportradarId,
            Column::UpdatedAt,
            Column::DeletedAt,
        ])
        .to_owned();
    let ids = upsert_rows(db, &rows, on_conflict, |row| {
        ((row.source, row.external_id), row.id)
    })
    .await?;
    in_input_order(events, ids, |e| (e.source, e.external_id.clone()))
}

/// The id of each of `rows`, in input order, from the ids the upsert returned by key.
fn in_input_order<T>(
    rows: &[T],
    mut ids: HashMap<Key, i32>,
    key: impl Fn(&T) -> Key,
) -> Result<Vec<i32>, StoreError> {
    rows.iter()
        .map(|row| {
            ids.remove(&key(row)).ok_or_else(|| {
                StoreError::Db(DbErr::RecordNotFound(
                    "an upserted row came back without its key".to_owned(),
                ))
            })
        })
        .collect()
}

/// The natural key of competitor tournaments and events.
type Key = (CompetitorSource, String);

/// Writes `rows` with `on_conflict` in statements sized under the bind-parameter limit,
/// all in one transaction, retried whole on contention; returns `key` of every row
/// written.
async fn upsert_rows<C, A>(
    db: &C,
    rows: &[A],
    on_conflict: OnConflict,
    key: impl Fn(<A::Entity as EntityTrait>::Model) -> (Key, i32),
) -> Result<HashMap<Key, i32>, StoreError>
where
    C: StoreConnection,
    A: ActiveModelTrait + Clone + Send + Sync,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count();
    let chunk = rows_per_statement(db.get_database_backend(), columns);
    in_transaction!(db, |txn| async {
        let mut ids = HashMap::with_capacity(rows.len());
        for rows in rows.chunks(chunk) {
            let written = A::Entity::insert_many(rows.to_vec())
                .on_conflict(on_conflict.clone())
                .exec_with_returning(&txn)
                .await?;
            ids.extend(written.into_iter().map(&key));
        }
        Ok::<_, StoreError>(ids)
    })
    .await
}

/// Validates every row, refuses duplicate keys, and returns the ActiveModels in lock
/// order: `source`, then `external_id`, compared byte-wise as PostgreSQL's `COLLATE "C"`
/// does (see [`super::lock_order`]).
fn prepare<'a, T, M>(
    rows: &'a [T],
    key: impl Fn(&'a T) -> (CompetitorSource, &'a str),
    active_model: impl Fn(&T) -> M,
    validate: impl Fn(&M) -> Result<(), ValidationError>,
) -> Result<Vec<M>, StoreError> {
    let mut seen: HashMap<(CompetitorSource, &str), usize> = HashMap::with_capacity(rows.len());
    let mut keyed = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let (source, external_id) = key(row);
        if let Some(first) = seen.insert((source, external_id), index) {
            return Err(StoreError::DuplicateInBatch {
                key: "(source, external_id)",
                value: format!("({source}, {external_id})"),
                first,
                second: index,
            });
        }
        let model = active_model(row);
        validate(&model).map_err(|error| StoreError::InvalidRow { index, error })?;
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
    retry::execute(db, &soft_delete).await
}
