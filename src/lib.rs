pub use entity; pub use migration::Migrator;
