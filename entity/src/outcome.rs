//! Typed market outcomes, stored in `competitor_market_odds.outcomes` (json).

use sea_orm::FromJsonQueryResult;
use serde::{Deserialize, Serialize};

/// The outcomes of one market, stored as a json array:
/// `[{"name":"1","odds":1.85,"is_active":true}, ...]`.
///
/// Reading values other clients wrote is lenient: unknown keys are ignored and a missing
/// `is_active` reads as `true`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, FromJsonQueryResult)]
pub struct Outcomes(pub Vec<Outcome>);

/// One outcome of a market: its name (`1`, `X`, `Over`, ...), decimal odds and whether the
/// bookmaker currently offers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The outcome's name as the market names it, e.g. `1`, `X`, `2`, `Over`, `Under`.
    pub name: String,
    /// Decimal odds; valid odds are finite and at least 1.0.
    pub odds: f64,
    /// `false` while the bookmaker suspends the outcome.
    #[serde(default = "active")]
    pub is_active: bool,
}

fn active() -> bool {
    true
}

impl Outcome {
    /// An active outcome.
    pub fn new(name: impl Into<String>, odds: f64) -> Self {
        Outcome {
            name: name.into(),
            odds,
            is_active: true,
        }
    }
}

impl Outcomes {
    /// The outcome called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Outcome> {
        self.0.iter().find(|outcome| outcome.name == name)
    }

    /// The bookmaker's margin (overround) of a market whose outcomes are mutually
    /// exclusive and exhaustive (1X2, Over/Under, ...): the sum of the implied probabilities
    /// `1 / odds` minus one, e.g. `0.05` for 5 %.
    ///
    /// `None` when the market has no outcome, when an outcome is suspended (the offered
    /// book is incomplete, so its sum means nothing) or when some odds are not positive.
    pub fn margin(&self) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        let mut implied = 0.0;
        for outcome in &self.0 {
            if !outcome.is_active || outcome.odds <= 0.0 {
                return None;
            }
            implied += 1.0 / outcome.odds;
        }
        Some(implied - 1.0)
    }
}

impl From<Vec<Outcome>> for Outcomes {
    fn from(outcomes: Vec<Outcome>) -> Self {
        Outcomes(outcomes)
    }
}
