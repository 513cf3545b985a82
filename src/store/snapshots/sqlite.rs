//! The SQLite path: one insert per snapshot, then multi-row market inserts sized under
//! SQLite's bind-parameter limit.

use entity::{SnapshotKind, competitor_market_odds, competitor_odds_snapshot};
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use super::{NewSnapshot, StoreError, rows_per_statement};

/// Writes the snapshots, of `kind`, and their markets in `txn`; returns the snapshot ids in
/// input order.
///
/// SQLite does not promise the order of `RETURNING` rows: one insert per snapshot keeps
/// each id with its input (a few thousand single-row inserts take milliseconds there).
pub(super) async fn write_snapshots<C: ConnectionTrait>(
    txn: &C,
    snapshots: &[NewSnapshot],
    kind: SnapshotKind,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(snapshots.len());
    for snapshot in snapshots {
        let mut model = snapshot.active_model();
        model.captured_at = Set(snapshot.stored_captured_at());
        model.kind = Set(kind);
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
