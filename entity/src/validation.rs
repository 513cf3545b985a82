//! The write rules of the competitor tables, shared by `before_save` and the bulk paths.
//!
//! Each entity's `ActiveModel::validate()` checks the values being written (`Set`), so an
//! update is not refused for a value another client stored earlier. `before_save` calls it
//! and turns a refusal into [`sea_orm::DbErr::Custom`] carrying the same message; bulk
//! writers call it directly and keep the typed [`ValidationError`].
//!
//! [`sea_orm::DbErr::Custom`]: https://docs.rs/sea-orm/2.0.4/sea_orm/enum.DbErr.html#variant.Custom

use std::fmt;

use chrono::{DateTime, Datelike, Utc};
use sea_orm::{ActiveValue, DbErr};

use crate::outcome::Outcomes;

/// A value that breaks one of the write rules; names the table, the field and the rule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{table}.{field} {rule}")]
pub struct ValidationError {
    /// The table written to, e.g. `competitor_events`.
    pub table: &'static str,
    /// The column (field) holding the bad value, e.g. `country_iso`.
    pub field: &'static str,
    /// The rule the value breaks.
    pub rule: Rule,
}

/// A write rule, with what the bad value was.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    /// The value must not be empty.
    Empty,
    /// Text must not hold a NUL character (`\0`): PostgreSQL's text types cannot store it.
    NulCharacter {
        /// Position of the first NUL, in characters.
        at: usize,
    },
    /// A timestamp's year must lie in 1..=9999: the range RFC 3339 text (SQLite's form,
    /// and COPY's) can express, so every backend accepts the same instants.
    YearOutOfRange(i32),
    /// The value has more characters than its `varchar(max)` column holds.
    TooLong {
        /// The column's length.
        max: usize,
        /// The value's length in characters.
        len: usize,
    },
    /// A country code must be three ASCII capital letters (ISO 3166-1 alpha-3 style).
    NotCountryIso(String),
    /// A number must be finite (not NaN or infinite).
    NotFinite(f64),
    /// The outcome at `index` has odds that are not finite or below 1.0.
    InvalidOdds {
        /// Position of the outcome in the market's outcome list.
        index: usize,
        /// The rejected odds.
        odds: f64,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Empty => write!(f, "must not be empty"),
            Rule::NulCharacter { at } => {
                write!(f, "holds a NUL character (\\0) at position {at}")
            }
            Rule::YearOutOfRange(year) => {
                write!(f, "has the year {year}; years must lie in 1..=9999")
            }
            Rule::TooLong { max, len } => {
                write!(
                    f,
                    "is {len} characters long, longer than its column's {max}"
                )
            }
            Rule::NotCountryIso(value) => {
                write!(f, "must be 3 ASCII capital letters, got {value:?}")
            }
            Rule::NotFinite(value) => write!(f, "must be a finite number, got {value}"),
            Rule::InvalidOdds { index, odds } => {
                write!(
                    f,
                    "outcome {index} has odds {odds}; odds must be finite and at least 1.0"
                )
            }
        }
    }
}

impl From<ValidationError> for DbErr {
    fn from(err: ValidationError) -> Self {
        DbErr::Custom(err.to_string())
    }
}

/// Checks the fields of one table; every check looks at a value only when it is being
/// written (`Set`).
pub(crate) struct Checker {
    table: &'static str,
}

impl Checker {
    pub(crate) fn new(table: &'static str) -> Self {
        Checker { table }
    }

    fn fail(&self, field: &'static str, rule: Rule) -> Result<(), ValidationError> {
        Err(ValidationError {
            table: self.table,
            field,
            rule,
        })
    }

    /// At most `max` characters (PostgreSQL's varchar counts characters, not bytes).
    pub(crate) fn text(
        &self,
        field: &'static str,
        value: &ActiveValue<String>,
        max: usize,
        non_empty: bool,
    ) -> Result<(), ValidationError> {
        match written(value) {
            Some(text) => self.str(field, text, max, non_empty),
            None => Ok(()),
        }
    }

    /// As [`Checker::text`] for a nullable column; `None` passes.
    pub(crate) fn optional_text(
        &self,
        field: &'static str,
        value: &ActiveValue<Option<String>>,
        max: usize,
        non_empty: bool,
    ) -> Result<(), ValidationError> {
        match written(value) {
            Some(Some(text)) => self.str(field, text, max, non_empty),
            _ => Ok(()),
        }
    }

    fn str(
        &self,
        field: &'static str,
        text: &str,
        max: usize,
        non_empty: bool,
    ) -> Result<(), ValidationError> {
        if non_empty && text.trim().is_empty() {
            return self.fail(field, Rule::Empty);
        }
        if let Some(at) = text.chars().position(|c| c == '\0') {
            return self.fail(field, Rule::NulCharacter { at });
        }
        let len = text.chars().count();
        if len > max {
            return self.fail(field, Rule::TooLong { max, len });
        }
        Ok(())
    }

    /// Three ASCII capital letters, when set to a value.
    pub(crate) fn country_iso(
        &self,
        field: &'static str,
        value: &ActiveValue<Option<String>>,
    ) -> Result<(), ValidationError> {
        match written(value) {
            Some(Some(code))
                if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) =>
            {
                self.fail(field, Rule::NotCountryIso(code.clone()))
            }
            _ => Ok(()),
        }
    }

    /// A year in 1..=9999, when set.
    pub(crate) fn timestamp(
        &self,
        field: &'static str,
        value: &ActiveValue<DateTime<Utc>>,
    ) -> Result<(), ValidationError> {
        match written(value) {
            Some(at) => self.year(field, at),
            None => Ok(()),
        }
    }

    /// As [`Checker::timestamp`] for a nullable column; `None` passes.
    pub(crate) fn optional_timestamp(
        &self,
        field: &'static str,
        value: &ActiveValue<Option<DateTime<Utc>>>,
    ) -> Result<(), ValidationError> {
        match written(value) {
            Some(Some(at)) => self.year(field, at),
            _ => Ok(()),
        }
    }

    fn year(&self, field: &'static str, at: &DateTime<Utc>) -> Result<(), ValidationError> {
        let year = at.year();
        if (1..=9999).contains(&year) {
            Ok(())
        } else {
            self.fail(field, Rule::YearOutOfRange(year))
        }
    }

    /// A finite number, when set to a value.
    pub(crate) fn finite(
        &self,
        field: &'static str,
        value: &ActiveValue<Option<f64>>,
    ) -> Result<(), ValidationError> {
        match written(value) {
            Some(Some(number)) if !number.is_finite() => self.fail(field, Rule::NotFinite(*number)),
            _ => Ok(()),
        }
    }

    /// Every outcome's odds finite and at least 1.0.
    pub(crate) fn outcomes(
        &self,
        field: &'static str,
        value: &ActiveValue<Outcomes>,
    ) -> Result<(), ValidationError> {
        let Some(outcomes) = written(value) else {
            return Ok(());
        };
        for (index, outcome) in outcomes.0.iter().enumerate() {
            if !outcome.odds.is_finite() || outcome.odds < 1.0 {
                return self.fail(
                    field,
                    Rule::InvalidOdds {
                        index,
                        odds: outcome.odds,
                    },
                );
            }
        }
        Ok(())
    }
}

/// The value being written: `Set` only.
fn written<V>(value: &ActiveValue<V>) -> Option<&V>
where
    V: Into<sea_orm::Value>,
{
    match value {
        ActiveValue::Set(value) => Some(value),
        _ => None,
    }
}
