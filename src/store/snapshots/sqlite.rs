//! The SQLite path: one insert per snapshot, then multi-row market inserts sized under
//! SQLite's bind-parameter limit.

use entity::competitor_market_odds_current::{self as current, Column};
use entity::{SnapshotKind, competitor_market_odds, competitor_odds_snapshot};
use migration::SQLITE_CURRENT_MARKET_KEY;
use sea_orm::sea_query::{Expr, OnConflict, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

use super::fold::CurrentMarket;
use super::{NewSnapshot, StoreError, rows_per_statement};

/// Writes the snapshots (`kinds` parallel to them) and their markets in `txn`; returns the
/// snapshot ids in input order.
///
/// SQLite does not promise the order of `RETURNING` rows: one insert per snapshot keeps
/// each id with its input (a few thousand single-row inserts take milliseconds there).
pub(super) async fn write_snapshots<C: ConnectionTrait>(
    txn: &C,
    snapshots: &[NewSnapshot],
    kinds: &[SnapshotKind],
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(snapshots.len());
    for (snapshot, kind) in snapshots.iter().zip(kinds) {
        let mut model = snapshot.active_model();
        model.captured_at = Set(snapshot.stored_captured_at());
        model.kind = Set(*kind);
        let inserted = competitor_odds_snapshot::Entity::insert(model)
            .exec(txn)
            .await?;
        ids.push(inserted.last_insert_id);
    }

    let chunk = rows_per_statement(txn.get_database_backend(), 8);
    let mut rows = Vec::with_capacity(chunk);
    for (snapshot, id) in snapshots.iter().zip(&ids) {
        for market in &snapshot.markets {
            let mut model = market.active_model();
            model.snapshot_id = Set(*id);
            rows.push(model);
            if rows.len() == chunk {
                insert_markets(txn, std::mem::take(&mut rows)).await?;
            }
        }
    }
    if !rows.is_empty() {
        insert_markets(txn, rows).await?;
    }
    Ok(ids)
}

async fn insert_markets<C: ConnectionTrait>(
    txn: &C,
    rows: Vec<competitor_market_odds::ActiveModel>,
) -> Result<(), StoreError> {
    competitor_market_odds::Entity::insert_many(rows)
        .exec_without_returning(txn)
        .await?;
    Ok(())
}

/// Upserts current markets in statements sized under SQLite's bind limit; the conflict
/// target is the NULL-safe key's exact expressions.
pub(super) async fn upsert_current<C: ConnectionTrait>(
    txn: &C,
    markets: &[CurrentMarket<'_>],
) -> Result<(), StoreError> {
    const COLUMNS: [Column; 10] = [
        Column::CompetitorEventId,
        Column::BetpawaMarketId,
        Column::BetpawaMarketName,
        Column::Line,
        Column::HandicapType,
        Column::HandicapHome,
        Column::HandicapAway,
        Column::Outcomes,
        Column::ChangedAt,
        Column::UnavailableAt,
    ];
    let on_conflict = OnConflict::new()
        .exprs(SQLITE_CURRENT_MARKET_KEY.map(Expr::cust))
        .update_columns([
            Column::BetpawaMarketName,
            Column::Outcomes,
            Column::ChangedAt,
            Column::UnavailableAt,
        ])
        .to_owned();
    for chunk in markets.chunks(rows_per_statement(
        txn.get_database_backend(),
        COLUMNS.len(),
    )) {
        let mut insert = Query::insert();
        insert
            .into_table(current::Entity)
            .columns(COLUMNS)
            .on_conflict(on_conflict.clone());
        for current in chunk {
            let market = current.market;
            let row: [SimpleExpr; 10] = [
                current.event.into(),
                market.betpawa_market_id.as_str().into(),
                market.betpawa_market_name.as_str().into(),
                market.line.into(),
                market.handicap_type.as_deref().into(),
                market.handicap_home.into(),
                market.handicap_away.into(),
                market.outcomes_json()?.into(),
                current.changed_at.into(),
                current.unavailable_at.into(),
            ];
            insert
                .values(row)
                .map_err(|err| StoreError::Db(DbErr::Custom(err.to_string())))?;
        }
        txn.execute(&insert).await?;
    }
    Ok(())
}
