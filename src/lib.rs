//! The competitor odds schema of the Betpawa odds-comparison tool.
//!
//! - [`entity`]: the SeaORM entities of the competitor and base tables.
//! - [`Migrator`]: the migrations that create them (`cargo run -p migration -- up`).
//! - [`store`]: what services call to store whole competitor palimpsests fast.

#![warn(missing_docs, clippy::missing_errors_doc)]

pub use entity;
pub use migration::{Migrator, MigratorTrait};
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

/// The README's Rust example, compiled by `cargo test` so it stays true to the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
