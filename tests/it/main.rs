//! The integration suite: one binary (linking sea-orm twice costs minutes on two cores),
//! laid out like the source: one module per concern of the schema and one per module of
//! `src/store`, with one harness giving each test a fresh database (see `harness`).

mod constraints;
mod converge;
mod entities;
mod fixtures;
pub mod fold;
mod harness;
mod migration_lock;
mod migration_records;
mod migrations;
mod schema;
mod soak;
mod soft_delete;
mod sportradar;
mod sql;
mod sqlite_schema;
mod store;
mod tcp_nodelay;
mod traces;
mod validation;
