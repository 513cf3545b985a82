//! SportRadar ids in the form the store keeps them: SportRadar's bare number as text.
//!
//! The Python service that shares the database stores a match as `61300417` and a
//! tournament as `17`; competitors publish the same ids as URNs (SportyBet's event id
//! `sr:match:61300417`, its tournament id `sr:tournament:17`). Two forms in one table undo
//! each other: lookups by SportRadar id miss (and the Python service's insert that follows
//! fails on `uq_competitor_events_source_external`), every re-scrape rewrites the other
//! writer's `sportradar_id`, and Betpawa links are cleared. So a scraper passes what a
//! competitor publishes through [`match_id`] or [`tournament_id`] before it fills
//! [`EventUpsert::sportradar_id`](crate::store::EventUpsert::sportradar_id) or
//! [`TournamentUpsert::sportradar_id`](crate::store::TournamentUpsert::sportradar_id):
//!
//! ```
//! use competitor_db::sportradar;
//!
//! # fn main() -> Result<(), sportradar::SportradarIdError> {
//! assert_eq!(sportradar::match_id("sr:match:61300417")?, "61300417");
//! assert_eq!(sportradar::tournament_id("sr:tournament:17")?, "17");
//! // Already the stored form (Bet9ja's EXTID, Betpawa's widget id): unchanged.
//! assert_eq!(sportradar::match_id("61300417")?, "61300417");
//! // A tournament URN where a match id belongs is refused, not cut to `17`.
//! assert!(sportradar::match_id("sr:tournament:17").is_err());
//! # Ok(())
//! # }
//! ```
//!
//! `sr:simple_tournament:N` is refused as a tournament id: SportRadar numbers simple
//! tournaments (competitions without seasons or stages) apart from tournaments, so
//! stripped to `N` it would collide with `sr:tournament:N`, a different competition.
//! A tournament published only that way has no SportRadar id in our tables
//! (`sportradar_id` is optional for tournaments).

use std::fmt;

/// What a SportRadar id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SportradarKind {
    /// A match (`sr:match:N`): `competitor_events.sportradar_id`, `events.sportradar_id`.
    Match,
    /// A tournament (`sr:tournament:N`): `competitor_tournaments.sportradar_id`,
    /// `tournaments.sportradar_id`.
    Tournament,
}

impl SportradarKind {
    /// The URN prefix competitors publish for this kind, `sr:match:` or `sr:tournament:`.
    pub fn prefix(self) -> &'static str {
        match self {
            SportradarKind::Match => "sr:match:",
            SportradarKind::Tournament => "sr:tournament:",
        }
    }
}

impl fmt::Display for SportradarKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SportradarKind::Match => "match",
            SportradarKind::Tournament => "tournament",
        })
    }
}

/// A SportRadar id that cannot be stored; names the input as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SportradarIdError {
    /// A SportRadar URN of another kind than expected: `sr:tournament:17` given as a match
    /// id, `sr:match:1` as a tournament id, or `sr:simple_tournament:N` (see the module
    /// docs).
    #[error("{input:?} is a SportRadar id of another kind, expected a {expected} id")]
    OtherKind {
        /// The input, as given.
        input: String,
        /// The kind the caller asked for.
        expected: SportradarKind,
    },
    /// Neither `sr:<kind>:<number>` nor a bare number: empty, whitespace, a sign, leading
    /// zeros, letters, or a number beyond 64 bits.
    #[error(
        "{input:?} is not a SportRadar {expected} id (expected `{prefix}<number>` or the bare number)",
        prefix = expected.prefix()
    )]
    Malformed {
        /// The input, as given.
        input: String,
        /// The kind the caller asked for.
        expected: SportradarKind,
    },
}

/// The stored form of a SportRadar match id: `sr:match:61300417` and `61300417` both give
/// `61300417`.
///
/// # Errors
/// [`SportradarIdError::OtherKind`] for a URN of another kind (`sr:tournament:17`);
/// [`SportradarIdError::Malformed`] for anything that is not `sr:match:<number>` or a
/// bare number (a positive integer without sign, spaces or leading zeros that fits in
/// 64 bits).
pub fn match_id(published: &str) -> Result<String, SportradarIdError> {
    stored_form(SportradarKind::Match, published)
}

/// The stored form of a SportRadar tournament id: `sr:tournament:17` and `17` both give
/// `17`.
///
/// # Errors
/// [`SportradarIdError::OtherKind`] for a URN of another kind, `sr:simple_tournament:N`
/// included (see the module docs); [`SportradarIdError::Malformed`] for anything that is
/// not `sr:tournament:<number>` or a bare number (as [`match_id`]).
pub fn tournament_id(published: &str) -> Result<String, SportradarIdError> {
    stored_form(SportradarKind::Tournament, published)
}

fn stored_form(expected: SportradarKind, published: &str) -> Result<String, SportradarIdError> {
    let number = match published.strip_prefix(expected.prefix()) {
        Some(number) => number,
        // Another `sr:<kind>:<number>`: say so rather than "malformed".
        None if published
            .strip_prefix("sr:")
            .and_then(|rest| rest.split_once(':'))
            .is_some_and(|(kind, number)| {
                !kind.is_empty()
                    && kind.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    && is_number(number)
            }) =>
        {
            return Err(SportradarIdError::OtherKind {
                input: published.to_owned(),
                expected,
            });
        }
        None => published,
    };
    if is_number(number) {
        Ok(number.to_owned())
    } else {
        Err(SportradarIdError::Malformed {
            input: published.to_owned(),
            expected,
        })
    }
}

/// A positive decimal integer in canonical form (no sign, no leading zero) within `u64`,
/// so that one id has one spelling.
fn is_number(text: &str) -> bool {
    !text.starts_with('0')
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.parse::<u64>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malformed(input: &str, expected: SportradarKind) -> SportradarIdError {
        SportradarIdError::Malformed {
            input: input.to_owned(),
            expected,
        }
    }

    fn other_kind(input: &str, expected: SportradarKind) -> SportradarIdError {
        SportradarIdError::OtherKind {
            input: input.to_owned(),
            expected,
        }
    }

    #[test]
    fn a_published_urn_becomes_the_bare_number() {
        assert_eq!(match_id("sr:match:61300417"), Ok("61300417".to_owned()));
        assert_eq!(tournament_id("sr:tournament:17"), Ok("17".to_owned()));
        assert_eq!(
            match_id("sr:match:18446744073709551615"),
            Ok("18446744073709551615".to_owned()),
            "the largest u64"
        );
    }

    #[test]
    fn the_stored_form_is_kept_as_it_is() {
        assert_eq!(match_id("61300417"), Ok("61300417".to_owned()));
        assert_eq!(tournament_id("17"), Ok("17".to_owned()));
        for published in ["sr:match:61300417", "61300417"] {
            let stored = match_id(published).unwrap();
            assert_eq!(match_id(&stored), Ok(stored.clone()), "idempotent");
        }
    }

    #[test]
    fn a_urn_of_another_kind_is_refused() {
        use SportradarKind::{Match, Tournament};
        assert_eq!(
            match_id("sr:tournament:17"),
            Err(other_kind("sr:tournament:17", Match))
        );
        assert_eq!(
            tournament_id("sr:match:61300417"),
            Err(other_kind("sr:match:61300417", Tournament))
        );
        assert_eq!(
            tournament_id("sr:simple_tournament:2386"),
            Err(other_kind("sr:simple_tournament:2386", Tournament)),
            "would collide with sr:tournament:2386"
        );
        assert_eq!(
            match_id("sr:season:118689"),
            Err(other_kind("sr:season:118689", Match))
        );
    }

    #[test]
    fn malformed_input_is_refused_and_named() {
        use SportradarKind::{Match, Tournament};
        for input in [
            "",
            "sr:match:",
            "sr:match",
            "sr:match:abc",
            "sr:match:12a",
            "sr:match: 61300417",
            "sr:match:61300417 ",
            " 61300417",
            "SR:MATCH:61300417",
            "sr:match:-1",
            "sr:match:+1",
            "sr:match:0",
            "sr:match:061300417",
            "061300417",
            "sr:match:18446744073709551616",
            "sr:match:sr:match:61300417",
            "sr::61300417",
            "match:61300417",
            "61300417.0",
            "６１３", // full-width digits are not ASCII digits
        ] {
            assert_eq!(match_id(input), Err(malformed(input, Match)), "{input:?}");
        }
        assert_eq!(
            tournament_id("sr:tournament:x17"),
            Err(malformed("sr:tournament:x17", Tournament))
        );
    }

    #[test]
    fn the_error_names_the_input_and_the_expected_kind() {
        let error = match_id("sr:match:abc").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"sr:match:abc\" is not a SportRadar match id \
             (expected `sr:match:<number>` or the bare number)"
        );
        let error = tournament_id("sr:simple_tournament:5").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"sr:simple_tournament:5\" is a SportRadar id of another kind, \
             expected a tournament id"
        );
    }
}
