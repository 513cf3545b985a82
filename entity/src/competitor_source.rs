//! [`CompetitorSource`]: which competitor a palimpsest comes from.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A competitor bookmaker whose palimpsest is stored.
///
/// Stored as `varchar(20)` holding `sportybet` or `bet9ja`, guarded by the CHECK
/// constraints `ck_competitor_*_source`. Displays as the stored string; parses it
/// case-insensitively, so scraper input like `SportyBet` or `BET9JA` is accepted:
///
/// ```
/// use entity::CompetitorSource;
///
/// assert_eq!("SportyBet".parse::<CompetitorSource>(), Ok(CompetitorSource::Sportybet));
/// assert_eq!(CompetitorSource::Bet9ja.to_string(), "bet9ja");
/// let err = "betking".parse::<CompetitorSource>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown competitor source `betking` (expected sportybet or bet9ja)");
/// ```
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    DeriveActiveEnum,
    Serialize,
    Deserialize,
    strum::Display,
    strum::AsRefStr,
    strum::EnumString,
    // strum's own derive: sea-orm's copy of it rejects the `parse_err_*` attributes below.
    strum::EnumIter,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "lowercase")]
#[strum(
    serialize_all = "lowercase",
    ascii_case_insensitive,
    parse_err_ty = UnknownSource,
    parse_err_fn = UnknownSource::new
)]
pub enum CompetitorSource {
    /// SportyBet, stored as `sportybet`.
    #[sea_orm(string_value = "sportybet")]
    Sportybet,
    /// Bet9ja, stored as `bet9ja`.
    #[sea_orm(string_value = "bet9ja")]
    Bet9ja,
}

impl CompetitorSource {
    /// The competitor's own name, `SportyBet` or `Bet9ja`, for display.
    pub fn display_name(self) -> &'static str {
        match self {
            CompetitorSource::Sportybet => "SportyBet",
            CompetitorSource::Bet9ja => "Bet9ja",
        }
    }

    /// The stored string, `sportybet` or `bet9ja`.
    pub fn as_str(self) -> &'static str {
        match self {
            CompetitorSource::Sportybet => "sportybet",
            CompetitorSource::Bet9ja => "bet9ja",
        }
    }
}

/// A name that is not a [`CompetitorSource`]; carries the name it was given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown competitor source `{0}` (expected sportybet or bet9ja)")]
pub struct UnknownSource(pub String);

impl UnknownSource {
    fn new(name: &str) -> Self {
        UnknownSource(name.to_owned())
    }
}
