//! Current odds and change-only history (SCHEMA.md, "Current odds and change-only
//! history"): the newest-snapshot index, the confirmation time of a snapshot, and one
//! current row per competitor event and market.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{DbBackend, Statement};

use crate::converge;
use crate::guard::{drop_tables, refuse_to_drop_rows};
use crate::m20261126_000002_create_competitor_tables::{CompetitorEvents, CompetitorOddsSnapshots};
use crate::portable::add_surrogate_key;

/// The table this migration creates.
pub const CURRENT_ODDS_TABLE: &str = "competitor_market_odds_current";

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .create_index(idx_competitor_odds_snapshots_event_newest())
            .await?;
        add_last_confirmed_at(manager).await?;
        manager
            .create_table(competitor_market_odds_current(backend))
            .await?;
        if backend == DbBackend::Sqlite {
            manager
                .get_connection()
                .execute_unprepared(&sqlite_market_key())
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_to_drop_rows(manager, "the current odds", &[CURRENT_ODDS_TABLE]).await?;
        drop_tables(manager, &[CURRENT_ODDS_TABLE]).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(CompetitorOddsSnapshots::Table)
                    .drop_column(CompetitorOddsSnapshots::LastConfirmedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_competitor_odds_snapshots_event_newest")
                    .table(CompetitorOddsSnapshots::Table)
                    .to_owned(),
            )
            .await
    }

    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }
}

/// `competitor_odds_snapshots.last_confirmed_at`, unless the Python service added it
/// already (it did, later, for the same reason). Its column is a naive `timestamp` holding
/// UTC, like its others: it becomes `timestamptz`, each value read as UTC whatever the
/// session's TimeZone, as migration 2 converts the rest (`converge.rs`).
async fn add_last_confirmed_at(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let snapshots = CompetitorOddsSnapshots::Table.to_string();
    let column = CompetitorOddsSnapshots::LastConfirmedAt.to_string();
    if !manager.has_column(&snapshots, &column).await? {
        return manager
            .alter_table(
                Table::alter()
                    .table(CompetitorOddsSnapshots::Table)
                    .add_column(timestamp_with_time_zone_null(
                        CompetitorOddsSnapshots::LastConfirmedAt,
                    ))
                    .to_owned(),
            )
            .await;
    }
    if manager.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let db = manager.get_connection();
    let found = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT format_type(atttypid, atttypmod) AS type FROM pg_attribute \
             WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped",
            [snapshots.clone().into(), column.clone().into()],
        ))
        .await?
        .map(|row| row.try_get::<String>("", "type"))
        .transpose()?;
    // A naive one holds UTC: converted as migration 2 converts the service's others.
    const TIMESTAMPTZ: &str = "timestamp with time zone";
    match found.as_deref() {
        Some(TIMESTAMPTZ) => Ok(()),
        found => {
            match found.and_then(|from| converge::retype(&snapshots, &column, from, TIMESTAMPTZ)) {
                Some(alter) => db.execute_unprepared(&alter).await.map(|_| ()),
                None => Err(DbErr::Migration(format!(
                    "`{snapshots}.{column}` exists as {}, not as a timestamp; it was left as it was",
                    found.unwrap_or("an unknown type")
                ))),
            }
        }
    }
}

/// The newest snapshot of an event is one probe of this index, whatever its history.
fn idx_competitor_odds_snapshots_event_newest() -> IndexCreateStatement {
    use CompetitorOddsSnapshots as S;
    Index::create()
        .name("idx_competitor_odds_snapshots_event_newest")
        .table(S::Table)
        .col(S::CompetitorEventId)
        .col((S::CapturedAt, IndexOrder::Desc))
        .col((S::Id, IndexOrder::Desc))
        .to_owned()
}

fn competitor_market_odds_current(backend: DbBackend) -> TableCreateStatement {
    use CompetitorMarketOddsCurrent as C;
    let mut table = Table::create();
    table.table(C::Table);
    add_surrogate_key(
        backend,
        &mut table,
        C::Id,
        "pk_competitor_market_odds_current",
        true,
    );
    table
        .col(integer(C::CompetitorEventId))
        .col(string_len(C::BetpawaMarketId, 50))
        .col(string_len(C::BetpawaMarketName, 255))
        .col(double_null(C::Line))
        .col(string_len_null(C::HandicapType, 50))
        .col(double_null(C::HandicapHome))
        .col(double_null(C::HandicapAway))
        .col(json(C::Outcomes))
        .col(timestamp_with_time_zone(C::ChangedAt))
        .col(timestamp_with_time_zone_null(C::UnavailableAt))
        .foreign_key(
            ForeignKey::create()
                // The convention's name cut at PostgreSQL's 63-byte identifier limit.
                .name("fk_competitor_market_odds_current_competitor_event_id_competito")
                .from(C::Table, C::CompetitorEventId)
                .to(CompetitorEvents::Table, CompetitorEvents::Id)
                .on_delete(ForeignKeyAction::Cascade),
        );
    if backend != DbBackend::Sqlite {
        // A market without a line or handicap is one market: NULLs compare equal.
        table.index(
            Index::create()
                .name("uq_competitor_market_odds_current_market")
                .col(C::CompetitorEventId)
                .col(C::BetpawaMarketId)
                .col(C::Line)
                .col(C::HandicapType)
                .col(C::HandicapHome)
                .col(C::HandicapAway)
                .unique()
                .nulls_not_distinct(),
        );
    }
    table.to_owned()
}

/// The key of a current market on SQLite, which has no `NULLS NOT DISTINCT`: NULL becomes
/// an empty blob, a value no line, handicap or text equals. An `ON CONFLICT` target names
/// these exact expressions.
pub const SQLITE_CURRENT_MARKET_KEY: [&str; 6] = [
    "competitor_event_id",
    "betpawa_market_id",
    "IFNULL(line, x'')",
    "IFNULL(handicap_type, x'')",
    "IFNULL(handicap_home, x'')",
    "IFNULL(handicap_away, x'')",
];

/// [`SQLITE_CURRENT_MARKET_KEY`] as a unique index (sea-query cannot build an index on
/// expressions for SQLite).
fn sqlite_market_key() -> String {
    format!(
        "CREATE UNIQUE INDEX \"uq_competitor_market_odds_current_market\" \
         ON \"{CURRENT_ODDS_TABLE}\" ({})",
        SQLITE_CURRENT_MARKET_KEY.join(", ")
    )
}

#[derive(DeriveIden)]
pub enum CompetitorMarketOddsCurrent {
    Table,
    Id,
    CompetitorEventId,
    BetpawaMarketId,
    BetpawaMarketName,
    Line,
    HandicapType,
    HandicapHome,
    HandicapAway,
    Outcomes,
    ChangedAt,
    UnavailableAt,
}
