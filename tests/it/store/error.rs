//! `store::error`: what the store says where the database was never migrated.

use competitor_db::store::{self, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use sea_orm::DatabaseConnection;

use super::at;
use crate::both;

/// `result` is the store's refusal for the missing `table`, with a message that says what
/// to run, and not the database's own wording.
fn assert_not_migrated<T: std::fmt::Debug>(result: Result<T, StoreError>, table: &str) {
    let err = result.expect_err("a store call on an empty database");
    let message = err.to_string();
    let StoreError::NotMigrated { table: missing, .. } = &err else {
        panic!("expected StoreError::NotMigrated, got {err:?}")
    };
    assert_eq!(missing, table);
    assert!(
        message.starts_with(&format!("table `{table}` does not exist")),
        "{message}"
    );
    for advice in ["competitor_db::migrate", "cargo run -p migration -- up"] {
        assert!(message.contains(advice), "{message}");
    }
}

async fn store_calls_on_a_database_never_migrated_say_to_migrate(db: &DatabaseConnection) {
    // Writes: an upsert, and the snapshot write (COPY given the pool on PostgreSQL).
    assert_not_migrated(
        store::upsert_tournaments(
            db,
            &[testing::tournament(CompetitorSource::Sportybet, 1, "t-1")],
        )
        .await,
        "competitor_tournaments",
    );
    assert_not_migrated(
        store::write_snapshots(db, &[testing::snapshot(1, 2, at(0))]).await,
        "competitor_odds_snapshots",
    );
    // The comparison read.
    assert_not_migrated(
        store::current_odds_for_betpawa_events(db, &[1]).await,
        "competitor_events",
    );
}
both!(empty: store_calls_on_a_database_never_migrated_say_to_migrate);
