//! The competitor tables: tournaments, events, odds snapshots and market odds of SportyBet
//! and Bet9ja, every constraint named as in the plan, and the plan's indexes.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{DatabaseExecutor, DbBackend, TransactionTrait};

use crate::converge::{self, Reference};
use crate::guard::drop_tables;
use crate::m20261126_000001_create_base_tables::{Events, ScrapeRuns, Sports};
use crate::portable::{add_surrogate_key, timestamp_default_now};

/// The competitor tables, in the order `down` drops them (referencing tables first).
pub const COMPETITOR_TABLES: [&str; 4] = [
    "competitor_market_odds",
    "competitor_odds_snapshots",
    "competitor_events",
    "competitor_tournaments",
];

/// The sources a `source` column accepts, frozen here as the migration wrote them.
const SOURCES: [&str; 2] = ["sportybet", "bet9ja"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// Creates the tables, or, where the Python service already created them, converges
    /// them to the same schema keeping their rows (see `converge`).
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let reference = competitor_schema(manager.get_database_backend());
        if converge::existing_tables(manager, &COMPETITOR_TABLES)
            .await?
            .is_empty()
        {
            reference.create(manager).await
        } else {
            converge::converge(manager, &COMPETITOR_TABLES, &reference).await
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for index in planned_indexes().iter().rev() {
            if let Some(name) = index.get_index_spec().get_name() {
                manager
                    .drop_index(Index::drop().name(name).if_exists().to_owned())
                    .await?;
            }
        }
        drop_tables(manager, &COMPETITOR_TABLES).await
    }

    fn use_transaction(&self) -> Option<bool> {
        // Explicit on every backend; SQLite would otherwise run without one.
        Some(true)
    }
}

/// Refuses an `up` of `M` that would apply this migration where converging the tables
/// already there would refuse, before anything is written: not even the migration table
/// or the base migration's record. Runs under the migration lock, before `up`.
///
/// # Errors
///
/// The refusal of [`check_convergence`], or any error reading the applied migrations.
pub(crate) async fn check_up<M: MigratorTrait>(
    db: &DatabaseExecutor<'_>,
    steps: Option<u32>,
) -> Result<(), DbErr> {
    let pending = M::get_pending_migrations_read_only(db).await?;
    let applied_now = steps.map_or(pending.len(), |steps| steps as usize);
    if pending
        .iter()
        .take(applied_now)
        .any(|migration| migration.name() == Migration.name())
    {
        check_convergence(db).await?;
    }
    Ok(())
}

/// Refuses, before any migration runs, an `up` whose convergence of existing competitor
/// tables would refuse: the checks of converging, in a transaction rolled back at once.
/// So a refused `up` records no migration, not even the base one before this.
///
/// # Errors
///
/// The refusal of [`converge::plan`], or any error reading the catalog.
pub(crate) async fn check_convergence(db: &DatabaseExecutor<'_>) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    let manager = SchemaManager::new(&txn);
    let existing = converge::existing_tables(&manager, &COMPETITOR_TABLES).await;
    let checked = match existing {
        Ok(existing) if existing.is_empty() => Ok(()),
        Ok(_) => {
            let reference = competitor_schema(manager.get_database_backend());
            converge::plan(&manager, &COMPETITOR_TABLES, &reference)
                .await
                .map(|_| ())
        }
        Err(err) => Err(err),
    };
    txn.rollback().await?;
    checked
}

/// The four tables (referenced first) and the plan's indexes.
fn competitor_schema(backend: DbBackend) -> Reference {
    Reference {
        tables: vec![
            competitor_tournaments(backend),
            competitor_events(backend),
            competitor_odds_snapshots(backend),
            competitor_market_odds(backend),
        ],
        indexes: planned_indexes(),
    }
}

/// The plan's indexes, one builder each. This list drives both `up` (create) and `down`
/// (drop). A further index needs a measured query and a migration of its own.
pub fn planned_indexes() -> Vec<IndexCreateStatement> {
    vec![
        idx_competitor_tournaments_source(),
        idx_competitor_tournaments_sport(),
        idx_competitor_tournaments_sr_id(),
        idx_competitor_events_source(),
        idx_competitor_events_tournament(),
        idx_competitor_events_sr_id(),
        idx_competitor_events_betpawa(),
        idx_competitor_events_kickoff(),
        idx_competitor_odds_snapshots_event(),
        idx_competitor_odds_snapshots_captured(),
        idx_competitor_market_odds_snapshot(),
        idx_competitor_market_odds_market(),
    ]
}

fn idx_competitor_tournaments_source() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_tournaments_source")
        .table(CompetitorTournaments::Table)
        .col(CompetitorTournaments::Source)
        .to_owned()
}

fn idx_competitor_tournaments_sport() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_tournaments_sport")
        .table(CompetitorTournaments::Table)
        .col(CompetitorTournaments::SportId)
        .to_owned()
}

/// Partial: most competitor tournaments carry no SportRadar id.
fn idx_competitor_tournaments_sr_id() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_tournaments_sr_id")
        .table(CompetitorTournaments::Table)
        .col(CompetitorTournaments::SportradarId)
        .and_where(Expr::col(CompetitorTournaments::SportradarId).is_not_null())
        .to_owned()
}

fn idx_competitor_events_source() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_events_source")
        .table(CompetitorEvents::Table)
        .col(CompetitorEvents::Source)
        .to_owned()
}

fn idx_competitor_events_tournament() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_events_tournament")
        .table(CompetitorEvents::Table)
        .col(CompetitorEvents::TournamentId)
        .to_owned()
}

fn idx_competitor_events_sr_id() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_events_sr_id")
        .table(CompetitorEvents::Table)
        .col(CompetitorEvents::SportradarId)
        .to_owned()
}

/// Partial: only linked events carry a Betpawa event id.
fn idx_competitor_events_betpawa() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_events_betpawa")
        .table(CompetitorEvents::Table)
        .col(CompetitorEvents::BetpawaEventId)
        .and_where(Expr::col(CompetitorEvents::BetpawaEventId).is_not_null())
        .to_owned()
}

fn idx_competitor_events_kickoff() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_events_kickoff")
        .table(CompetitorEvents::Table)
        .col(CompetitorEvents::Kickoff)
        .to_owned()
}

fn idx_competitor_odds_snapshots_event() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_odds_snapshots_event")
        .table(CompetitorOddsSnapshots::Table)
        .col(CompetitorOddsSnapshots::CompetitorEventId)
        .to_owned()
}

fn idx_competitor_odds_snapshots_captured() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_odds_snapshots_captured")
        .table(CompetitorOddsSnapshots::Table)
        .col(CompetitorOddsSnapshots::CapturedAt)
        .to_owned()
}

fn idx_competitor_market_odds_snapshot() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_market_odds_snapshot")
        .table(CompetitorMarketOdds::Table)
        .col(CompetitorMarketOdds::SnapshotId)
        .to_owned()
}

fn idx_competitor_market_odds_market() -> IndexCreateStatement {
    Index::create()
        .name("idx_competitor_market_odds_market")
        .table(CompetitorMarketOdds::Table)
        .col(CompetitorMarketOdds::BetpawaMarketId)
        .to_owned()
}

/// `source varchar(20) NOT NULL` with its named CHECK on the known sources.
fn add_source(table: &mut TableCreateStatement, column: impl IntoIden, check: &'static str) {
    let column = column.into_iden();
    table
        .col(string_len(column.clone(), 20))
        .check((check, Expr::col(column).is_in(SOURCES)));
}

fn competitor_tournaments(backend: DbBackend) -> TableCreateStatement {
    use CompetitorTournaments as T;
    let mut table = Table::create();
    table.table(T::Table);
    add_surrogate_key(
        backend,
        &mut table,
        T::Id,
        "pk_competitor_tournaments",
        false,
    );
    add_source(&mut table, T::Source, "ck_competitor_tournaments_source");
    table
        .col(integer(T::SportId))
        .col(string_len(T::Name, 255))
        .col(string_len_null(T::CountryRaw, 100))
        .col(string_len_null(T::CountryIso, 3))
        .col(string_len(T::ExternalId, 100))
        .col(string_len_null(T::SportradarId, 100))
        .col(timestamp_default_now(backend, T::CreatedAt))
        .col(timestamp_with_time_zone_null(T::DeletedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_competitor_tournaments_sport_id_sports")
                .from(T::Table, T::SportId)
                .to(Sports::Table, Sports::Id)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .index(
            Index::create()
                .name("uq_competitor_tournaments_source_external")
                .col(T::Source)
                .col(T::ExternalId)
                .unique(),
        )
        .to_owned()
}

fn competitor_events(backend: DbBackend) -> TableCreateStatement {
    use CompetitorEvents as E;
    let mut table = Table::create();
    table.table(E::Table);
    add_surrogate_key(backend, &mut table, E::Id, "pk_competitor_events", false);
    add_source(&mut table, E::Source, "ck_competitor_events_source");
    table
        .col(integer(E::TournamentId))
        .col(integer_null(E::BetpawaEventId))
        .col(string_len(E::Name, 500))
        .col(string_len(E::HomeTeam, 255))
        .col(string_len(E::AwayTeam, 255))
        .col(timestamp_with_time_zone(E::Kickoff))
        .col(string_len(E::ExternalId, 100))
        .col(string_len(E::SportradarId, 100))
        .col(timestamp_default_now(backend, E::CreatedAt))
        .col(timestamp_default_now(backend, E::UpdatedAt))
        .col(timestamp_with_time_zone_null(E::DeletedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_competitor_events_tournament_id_competitor_tournaments")
                .from(E::Table, E::TournamentId)
                .to(CompetitorTournaments::Table, CompetitorTournaments::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_competitor_events_betpawa_event_id_events")
                .from(E::Table, E::BetpawaEventId)
                .to(Events::Table, Events::Id)
                .on_delete(ForeignKeyAction::SetNull),
        )
        .index(
            Index::create()
                .name("uq_competitor_events_source_external")
                .col(E::Source)
                .col(E::ExternalId)
                .unique(),
        )
        .to_owned()
}

fn competitor_odds_snapshots(backend: DbBackend) -> TableCreateStatement {
    use CompetitorOddsSnapshots as S;
    let mut table = Table::create();
    table.table(S::Table);
    add_surrogate_key(
        backend,
        &mut table,
        S::Id,
        "pk_competitor_odds_snapshots",
        true,
    );
    table
        .col(integer(S::CompetitorEventId))
        .col(timestamp_default_now(backend, S::CapturedAt))
        .col(integer_null(S::ScrapeRunId))
        .col(json_null(S::RawResponse))
        .foreign_key(
            ForeignKey::create()
                // The convention's name cut at PostgreSQL's 63-byte identifier limit.
                .name("fk_competitor_odds_snapshots_competitor_event_id_competitor_eve")
                .from(S::Table, S::CompetitorEventId)
                .to(CompetitorEvents::Table, CompetitorEvents::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .foreign_key(
            ForeignKey::create()
                .name("fk_competitor_odds_snapshots_scrape_run_id_scrape_runs")
                .from(S::Table, S::ScrapeRunId)
                .to(ScrapeRuns::Table, ScrapeRuns::Id)
                .on_delete(ForeignKeyAction::SetNull),
        )
        .to_owned()
}

fn competitor_market_odds(backend: DbBackend) -> TableCreateStatement {
    use CompetitorMarketOdds as M;
    let mut table = Table::create();
    table.table(M::Table);
    add_surrogate_key(
        backend,
        &mut table,
        M::Id,
        "pk_competitor_market_odds",
        true,
    );
    table
        .col(big_integer(M::SnapshotId))
        .col(string_len(M::BetpawaMarketId, 50))
        .col(string_len(M::BetpawaMarketName, 255))
        .col(double_null(M::Line))
        .col(string_len_null(M::HandicapType, 50))
        .col(double_null(M::HandicapHome))
        .col(double_null(M::HandicapAway))
        .col(json(M::Outcomes))
        .foreign_key(
            ForeignKey::create()
                .name("fk_competitor_market_odds_snapshot_id_competitor_odds_snapshots")
                .from(M::Table, M::SnapshotId)
                .to(CompetitorOddsSnapshots::Table, CompetitorOddsSnapshots::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned()
}

#[derive(DeriveIden)]
pub enum CompetitorTournaments {
    Table,
    Id,
    Source,
    SportId,
    Name,
    CountryRaw,
    CountryIso,
    ExternalId,
    SportradarId,
    CreatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
pub enum CompetitorEvents {
    Table,
    Id,
    Source,
    TournamentId,
    BetpawaEventId,
    Name,
    HomeTeam,
    AwayTeam,
    Kickoff,
    ExternalId,
    SportradarId,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
}

#[derive(DeriveIden)]
pub enum CompetitorOddsSnapshots {
    Table,
    Id,
    CompetitorEventId,
    CapturedAt,
    ScrapeRunId,
    RawResponse,
    /// Added by migration 3.
    LastConfirmedAt,
}

#[derive(DeriveIden)]
pub enum CompetitorMarketOdds {
    Table,
    Id,
    SnapshotId,
    BetpawaMarketId,
    BetpawaMarketName,
    Line,
    HandicapType,
    HandicapHome,
    HandicapAway,
    Outcomes,
}
