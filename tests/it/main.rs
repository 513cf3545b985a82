//! The integration suite: one binary (linking sea-orm twice costs minutes on two cores),
//! one module per concern, one fresh database per test (see `harness`).

mod entities;
mod fixtures;
mod harness;
mod migrations;
mod rules;
mod schema;
mod soft_delete;
mod sql;
mod sqlite_schema;
mod store;
mod validation;
