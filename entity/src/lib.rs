//! SeaORM entities of the competitor odds schema.
