//! Palimpsest upserts: tournaments and events keyed by `(source, external_id)`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::validation::ValidationError;
use entity::{CompetitorSource, clock, competitor_event, competitor_tournament};
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Iterable, Set,
    TransactionSession, TransactionTrait,
};

use super::backend::{in_texts, rows_per_statement, statement};
use super::error::StoreError;

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
    /// SportRadar tournament id, if published.
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
    /// Scheduled start.
    pub kickoff: DateTime<Utc>,
    /// The competitor's own event id.
    pub external_id: String,
    /// SportRadar match id, the cross-platform matching key.
    pub sportradar_id: String,
}

impl TournamentUpsert {
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
    fn active_model(&self, now: DateTime<Utc>) -> competitor_event::ActiveModel {
        competitor_event::ActiveModel {
            source: Set(self.source),
            tournament_id: Set(self.tournament_id),
            name: Set(self.name.clone()),
            home_team: Set(self.home_team.clone()),
            away_team: Set(self.away_team.clone()),
            kickoff: Set(self.kickoff),
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
/// soft-deleted ones (same id, `deleted_at` back to NULL). Returns the id of every row
/// keyed by external id.
///
/// Any batch size: rows go in statements sized under the bind-parameter limit, all in
/// one transaction (a savepoint inside the caller's). Rows are written in key order, so
/// concurrent upserts of overlapping palimpsests do not deadlock.
///
/// # Errors
/// - [`StoreError::InvalidRow`] naming the row and field, checked before anything is
///   written;
/// - [`StoreError::DuplicateInBatch`] when an external id appears twice;
/// - [`StoreError::ForeignKeyViolation`] for an unknown `sport_id`;
/// - [`StoreError::Db`] for other database errors. Nothing is written on any error.
pub async fn upsert_tournaments<C>(
    db: &C,
    tournaments: &[TournamentUpsert],
) -> Result<HashMap<String, i32>, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
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
    upsert_rows(db, rows, on_conflict, |row| (row.external_id, row.id)).await
}

/// Inserts new events, updates the mutable fields of existing ones, revives
/// soft-deleted ones (same id, `deleted_at` back to NULL) and moves `updated_at`. Returns
/// the id of every row keyed by external id. The Betpawa link is left as it is; see
/// [`link_betpawa_events`](super::link_betpawa_events).
///
/// Batching, ordering and transaction as [`upsert_tournaments`].
///
/// # Errors
/// As [`upsert_tournaments`]; an unknown `tournament_id` is a
/// [`StoreError::ForeignKeyViolation`]. Nothing is written on any error.
pub async fn upsert_events<C>(
    db: &C,
    events: &[EventUpsert],
) -> Result<HashMap<String, i32>, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
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
    upsert_rows(db, rows, on_conflict, |row| (row.external_id, row.id)).await
}

/// Writes `rows` with `on_conflict` in statements sized under the bind-parameter limit,
/// all in one transaction; returns `key` of every row written.
async fn upsert_rows<C, A>(
    db: &C,
    rows: Vec<A>,
    on_conflict: OnConflict,
    key: impl Fn(<A::Entity as EntityTrait>::Model) -> (String, i32),
) -> Result<HashMap<String, i32>, StoreError>
where
    C: ConnectionTrait + TransactionTrait,
    A: ActiveModelTrait + Clone,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    let columns = <A::Entity as EntityTrait>::Column::iter().count();
    let chunk = rows_per_statement(db.get_database_backend(), columns);
    let txn = db.begin().await?;
    let mut ids = HashMap::with_capacity(rows.len());
    for rows in rows.chunks(chunk) {
        let written = A::Entity::insert_many(rows.iter().cloned())
            .on_conflict(on_conflict.clone())
            .exec_with_returning(&txn)
            .await?;
        ids.extend(written.into_iter().map(&key));
    }
    txn.commit().await?;
    Ok(ids)
}

/// Validates every row, refuses duplicate external ids, and returns the ActiveModels in
/// `(source, external_id)` order.
fn prepare<'a, T, M>(
    rows: &'a [T],
    key: impl Fn(&'a T) -> (CompetitorSource, &'a str),
    active_model: impl Fn(&T) -> M,
    validate: impl Fn(&M) -> Result<(), ValidationError>,
) -> Result<Vec<M>, StoreError> {
    let mut seen: HashMap<&str, usize> = HashMap::with_capacity(rows.len());
    let mut keyed = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let (source, external_id) = key(row);
        if let Some(first) = seen.insert(external_id, index) {
            return Err(StoreError::DuplicateInBatch {
                field: "external_id",
                value: external_id.to_owned(),
                first,
                second: index,
            });
        }
        let model = active_model(row);
        validate(&model).map_err(|error| StoreError::InvalidRow { index, error })?;
        keyed.push(((source, external_id), model));
    }
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(keyed.into_iter().map(|(_, model)| model).collect())
}

/// After a full palimpsest of `source`, soft-deletes that source's active events whose
/// external id is not in `seen`. Returns how many were soft-deleted. Events of the other
/// source, and events already deleted, are not touched; the next upsert that meets a
/// deleted event revives it.
///
/// # Errors
/// [`StoreError::EmptyPalimpsest`] when `seen` is empty (nothing is changed: an empty
/// scrape is far likelier a failed one); [`StoreError::Db`] for database errors.
pub async fn soft_delete_missing<C>(
    db: &C,
    source: CompetitorSource,
    seen: &[String],
) -> Result<u64, StoreError>
where
    C: ConnectionTrait,
{
    if seen.is_empty() {
        return Err(StoreError::EmptyPalimpsest { competitor: source });
    }
    let backend = db.get_database_backend();
    let (in_seen, seen) = in_texts(backend, "external_id", "$4", seen);
    let now = clock::now();
    let sql = format!(
        "UPDATE competitor_events SET deleted_at = $1, updated_at = $2 \
         WHERE source = $3 AND deleted_at IS NULL AND NOT ({in_seen})"
    );
    let values = vec![now.into(), now.into(), source.as_ref().into(), seen];
    let result = db.execute_raw(statement(backend, &sql, values)).await?;
    Ok(result.rows_affected())
}
