//! The base tables the competitor tables point at: `sports`, `tournaments`, `events` and
//! `scrape_runs`, as the Python service creates them.
//!
//! On a database where that service already created them, `up` adopts them as they are
//! (`IF NOT EXISTS`). `down` drops them only while all four are empty: a base table that
//! holds rows belongs to someone else's data and is never dropped.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::guard::{drop_tables, refuse_to_drop_rows};
use crate::portable::{add_surrogate_key, timestamp_default_now};

/// The base tables, in the order `down` drops them (referencing tables first).
pub const BASE_TABLES: [&str; 4] = ["events", "tournaments", "scrape_runs", "sports"];

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager.create_table(sports(backend)).await?;
        manager.create_table(tournaments(backend)).await?;
        manager.create_table(events(backend)).await?;
        manager.create_table(scrape_runs(backend)).await?;
        for index in scrape_run_indexes() {
            manager.create_index(index).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        refuse_to_drop_rows(manager, "the base tables", &BASE_TABLES).await?;
        drop_tables(manager, &BASE_TABLES).await
    }

    fn use_transaction(&self) -> Option<bool> {
        // PostgreSQL wraps migrations in a transaction by default, SQLite does not:
        // ask for it on every backend so a failure never leaves half a schema behind.
        Some(true)
    }
}

fn sports(backend: DbBackend) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(Sports::Table).if_not_exists();
    add_surrogate_key(backend, &mut table, Sports::Id, "pk_sports", false);
    table
        .col(string_len(Sports::Name, 100))
        .col(string_len(Sports::Slug, 100))
        .index(
            Index::create()
                .name("uq_sports_name")
                .col(Sports::Name)
                .unique(),
        )
        .index(
            Index::create()
                .name("uq_sports_slug")
                .col(Sports::Slug)
                .unique(),
        )
        .to_owned()
}

fn tournaments(backend: DbBackend) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(Tournaments::Table).if_not_exists();
    add_surrogate_key(
        backend,
        &mut table,
        Tournaments::Id,
        "pk_tournaments",
        false,
    );
    table
        .col(integer(Tournaments::SportId))
        .col(string_len(Tournaments::Name, 255))
        .col(string_len_null(Tournaments::Country, 100))
        .col(string_len_null(Tournaments::SportradarId, 100))
        .foreign_key(
            ForeignKey::create()
                .name("fk_tournaments_sport_id_sports")
                .from(Tournaments::Table, Tournaments::SportId)
                .to(Sports::Table, Sports::Id),
        )
        .index(
            Index::create()
                .name("uq_tournaments_sportradar_id")
                .col(Tournaments::SportradarId)
                .unique(),
        )
        .to_owned()
}

fn events(backend: DbBackend) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(Events::Table).if_not_exists();
    add_surrogate_key(backend, &mut table, Events::Id, "pk_events", false);
    table
        .col(integer(Events::TournamentId))
        .col(string_len(Events::Name, 500))
        .col(string_len(Events::HomeTeam, 255))
        .col(string_len(Events::AwayTeam, 255))
        .col(timestamp_with_time_zone(Events::Kickoff))
        .col(string_len(Events::SportradarId, 100))
        .col(timestamp_default_now(backend, Events::CreatedAt))
        .foreign_key(
            ForeignKey::create()
                .name("fk_events_tournament_id_tournaments")
                .from(Events::Table, Events::TournamentId)
                .to(Tournaments::Table, Tournaments::Id),
        )
        .index(
            Index::create()
                .name("uq_events_sportradar_id")
                .col(Events::SportradarId)
                .unique(),
        )
        .to_owned()
}

fn scrape_runs(backend: DbBackend) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(ScrapeRuns::Table).if_not_exists();
    add_surrogate_key(backend, &mut table, ScrapeRuns::Id, "pk_scrape_runs", false);
    table
        .col(string_len(ScrapeRuns::Status, 20).default("pending"))
        .col(timestamp_default_now(backend, ScrapeRuns::StartedAt))
        .col(timestamp_with_time_zone_null(ScrapeRuns::CompletedAt))
        .col(integer(ScrapeRuns::EventsScraped).default(0))
        .col(integer(ScrapeRuns::EventsFailed).default(0))
        .col(string_len_null(ScrapeRuns::Trigger, 50))
        .to_owned()
}

fn scrape_run_indexes() -> [IndexCreateStatement; 2] {
    [
        Index::create()
            .name("idx_scrape_runs_status")
            .table(ScrapeRuns::Table)
            .col(ScrapeRuns::Status)
            .if_not_exists()
            .to_owned(),
        Index::create()
            .name("idx_scrape_runs_started")
            .table(ScrapeRuns::Table)
            .col(ScrapeRuns::StartedAt)
            .if_not_exists()
            .to_owned(),
    ]
}

#[derive(DeriveIden)]
pub enum Sports {
    Table,
    Id,
    Name,
    Slug,
}

#[derive(DeriveIden)]
pub enum Tournaments {
    Table,
    Id,
    SportId,
    Name,
    Country,
    SportradarId,
}

#[derive(DeriveIden)]
pub enum Events {
    Table,
    Id,
    TournamentId,
    Name,
    HomeTeam,
    AwayTeam,
    Kickoff,
    SportradarId,
    CreatedAt,
}

#[derive(DeriveIden)]
pub enum ScrapeRuns {
    Table,
    Id,
    Status,
    StartedAt,
    CompletedAt,
    EventsScraped,
    EventsFailed,
    Trigger,
}
