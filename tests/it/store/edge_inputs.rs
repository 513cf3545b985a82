//! One behaviour on every write path: COPY (PostgreSQL, given the pool), `UNNEST`
//! (PostgreSQL, inside the caller's transaction) and SQLite store the same values and
//! refuse the same inputs, checked before anything is written.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use competitor_db::store::{self, NewSnapshot, StoreError};
use competitor_db::testing;
use entity::CompetitorSource;
use entity::outcome::{Outcome, Outcomes};
use entity::prelude::*;
use entity::validation::Rule;
use sea_orm::{DatabaseConnection, DbBackend, TransactionTrait};

use super::{at, palimpsest, sample_events, stored_markets};
use crate::both;
use crate::fixtures::stored_row;
use crate::sql::count;

/// How an edge input must come out: stored as `expected`, or refused naming `field`
/// with a rule `rule` accepts.
enum Expected {
    Stored(NewSnapshot),
    Refused {
        field: &'static str,
        rule: fn(&Rule) -> bool,
    },
}

/// `year-01-01T00:00:00Z`.
fn new_year(year: i32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(year, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|naive| Utc.from_utc_datetime(&naive))
        .expect("a representable year")
}

/// The edge inputs, each one snapshot of `event`, with what every path must do.
fn cases(event: i32) -> Vec<(&'static str, NewSnapshot, Expected)> {
    let base = testing::snapshot(event, 3, at(0));
    let with = |change: &dyn Fn(&mut NewSnapshot)| {
        let mut snapshot = base.clone();
        change(&mut snapshot);
        snapshot
    };
    let nanos = at(0) + chrono::Duration::nanoseconds(123_456_789);
    vec![
        (
            "year 9999 is stored",
            with(&|s| s.captured_at = new_year(9999)),
            Expected::Stored(with(&|s| s.captured_at = new_year(9999))),
        ),
        (
            "year 1 is stored",
            with(&|s| s.captured_at = new_year(1)),
            Expected::Stored(with(&|s| s.captured_at = new_year(1))),
        ),
        (
            "year 10000 is refused",
            with(&|s| s.captured_at = new_year(10_000)),
            Expected::Refused {
                field: "captured_at",
                rule: |rule| *rule == Rule::YearOutOfRange(10_000),
            },
        ),
        (
            "year 0 is refused",
            with(&|s| s.captured_at = new_year(0)),
            Expected::Refused {
                field: "captured_at",
                rule: |rule| *rule == Rule::YearOutOfRange(0),
            },
        ),
        (
            "year -1 is refused",
            with(&|s| s.captured_at = new_year(-1)),
            Expected::Refused {
                field: "captured_at",
                rule: |rule| *rule == Rule::YearOutOfRange(-1),
            },
        ),
        (
            "nanoseconds are truncated to microseconds",
            with(&|s| s.captured_at = nanos),
            Expected::Stored(with(&|s| {
                s.captured_at = at(0) + chrono::Duration::microseconds(123_456)
            })),
        ),
        (
            "nanoseconds are truncated in year 1600, before the i64 nanosecond range",
            with(&|s| s.captured_at = new_year(1600) + chrono::Duration::nanoseconds(999_999_999)),
            Expected::Stored(with(&|s| {
                s.captured_at = new_year(1600) + chrono::Duration::microseconds(999_999)
            })),
        ),
        (
            "nanoseconds are truncated in year 2300, after the i64 nanosecond range",
            with(&|s| s.captured_at = new_year(2300) + chrono::Duration::nanoseconds(999_999_999)),
            Expected::Stored(with(&|s| {
                s.captured_at = new_year(2300) + chrono::Duration::microseconds(999_999)
            })),
        ),
        (
            "a raw response holding \\u0000 is stored as written",
            with(&|s| s.raw_response = Some(serde_json::json!({"text": "a\u{0}b"}))),
            Expected::Stored(with(&|s| {
                s.raw_response = Some(serde_json::json!({"text": "a\u{0}b"}))
            })),
        ),
        (
            "tabs, newlines, quotes, backslashes and accents are stored as written",
            with(&|s| {
                s.markets[1].betpawa_market_name = "Over/Under\t\"2\\5\"\n\r é".to_owned();
                s.markets[1].outcomes.0[0].name = "Plus\tde \\ 2,5 «buts»".to_owned();
                s.raw_response = Some(serde_json::json!({"quote": "\"\\\t\n"}));
            }),
            Expected::Stored(with(&|s| {
                s.markets[1].betpawa_market_name = "Over/Under\t\"2\\5\"\n\r é".to_owned();
                s.markets[1].outcomes.0[0].name = "Plus\tde \\ 2,5 «buts»".to_owned();
                s.raw_response = Some(serde_json::json!({"quote": "\"\\\t\n"}));
            })),
        ),
        (
            "numbers keep every digit",
            with(&|s| {
                s.markets[2].line = Some(0.1 + 0.2);
                s.markets[2].outcomes = Outcomes(vec![
                    Outcome::new("a", 1.000_000_000_000_2),
                    Outcome::new("b", 123_456.789_012_345_6),
                ]);
            }),
            Expected::Stored(with(&|s| {
                s.markets[2].line = Some(0.1 + 0.2);
                s.markets[2].outcomes = Outcomes(vec![
                    Outcome::new("a", 1.000_000_000_000_2),
                    Outcome::new("b", 123_456.789_012_345_6),
                ]);
            })),
        ),
        (
            "a NUL in a market name is refused",
            with(&|s| s.markets[1].betpawa_market_name = "1X\u{0}2".to_owned()),
            Expected::Refused {
                field: "betpawa_market_name",
                rule: |rule| *rule == Rule::NulCharacter { at: 2 },
            },
        ),
        (
            "a NUL in a handicap type is refused",
            with(&|s| s.markets[1].handicap_type = Some("\u{0}".to_owned())),
            Expected::Refused {
                field: "handicap_type",
                rule: |rule| *rule == Rule::NulCharacter { at: 0 },
            },
        ),
    ]
}

/// Writes `snapshot` through the pool or inside a transaction of the test's own.
async fn write(
    db: &DatabaseConnection,
    in_transaction: bool,
    snapshot: &NewSnapshot,
) -> Result<Vec<i64>, StoreError> {
    let batch = std::slice::from_ref(snapshot);
    if !in_transaction {
        return store::write_snapshots(db, batch).await;
    }
    let txn = db.begin().await.expect("begin");
    let written = store::write_snapshots(&txn, batch).await;
    txn.commit().await.expect("commit");
    written
}

async fn every_edge_input_comes_out_the_same_on_every_path(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    for in_transaction in [false, true] {
        let path = match (db.get_database_backend(), in_transaction) {
            (DbBackend::Postgres, false) => "COPY",
            (DbBackend::Postgres, true) => "UNNEST",
            _ => "SQLite",
        };
        for (case, input, expected) in cases(events[0]) {
            let before = count(db, "competitor_odds_snapshots").await;
            let written = write(db, in_transaction, &input).await;
            match (expected, written) {
                (Expected::Stored(expected), Ok(ids)) => {
                    let stored = stored_row(db, CompetitorOddsSnapshot, ids[0]).await;
                    assert_eq!(stored.captured_at, expected.captured_at, "{path}: {case}");
                    assert_eq!(stored.raw_response, expected.raw_response, "{path}: {case}");
                    let markets = stored_markets(db, ids[0]).await;
                    assert_eq!(markets, expected.markets, "{path}: {case}");
                }
                (Expected::Refused { field, rule }, Err(err)) => {
                    let error = match &err {
                        StoreError::InvalidRow { index: 0, error } => error,
                        StoreError::InvalidMarket {
                            snapshot: 0,
                            market: 1,
                            error,
                            ..
                        } => error,
                        other => panic!("{path}: {case}: {other:?}"),
                    };
                    assert_eq!(error.field, field, "{path}: {case}");
                    assert!(rule(&error.rule), "{path}: {case}: {:?}", error.rule);
                    let after = count(db, "competitor_odds_snapshots").await;
                    assert_eq!(after, before, "{path}: {case}: nothing written");
                }
                (Expected::Stored(_), Err(err)) => panic!("{path}: {case}: refused: {err}"),
                (Expected::Refused { .. }, Ok(_)) => panic!("{path}: {case}: stored"),
            }
        }
    }
}
both!(every_edge_input_comes_out_the_same_on_every_path);

/// NUL and out-of-range times in an upsert name the row and the field.
async fn upserts_refuse_nul_characters_and_years_out_of_range(db: &DatabaseConnection) {
    let (tournament, _) = palimpsest(db, CompetitorSource::Bet9ja, 0).await;
    let mut events = sample_events(CompetitorSource::Bet9ja, tournament, 0..3);
    events[2].home_team = "Arsenal\u{0}".to_owned();
    let err = store::upsert_events(db, &events).await.expect_err("NUL");
    let StoreError::InvalidRow { index: 2, error } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (error.field, &error.rule),
        ("home_team", &Rule::NulCharacter { at: 7 })
    );
    assert!(err.to_string().contains("row 2"), "{err}");
    events[2].home_team = "Arsenal".to_owned();
    events[1].kickoff = new_year(10_000);
    let err = store::upsert_events(db, &events).await.expect_err("year");
    let StoreError::InvalidRow { index: 1, error } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (error.field, &error.rule),
        ("kickoff", &Rule::YearOutOfRange(10_000))
    );
    let mut tournament = testing::tournament(CompetitorSource::Bet9ja, 1, "t-2");
    tournament.external_id = "t-\u{0}".to_owned();
    let err = store::upsert_tournaments(db, &[tournament])
        .await
        .expect_err("NUL");
    assert!(
        matches!(&err, StoreError::InvalidRow { index: 0, error } if error.field == "external_id"),
        "{err:?}"
    );
    assert_eq!(count(db, "competitor_events").await, 0, "nothing written");
}
both!(upserts_refuse_nul_characters_and_years_out_of_range);

async fn timestamps_written_by_default_and_by_the_crates_share_one_format(db: &DatabaseConnection) {
    let (_, events) = palimpsest(db, CompetitorSource::Sportybet, 1).await;
    let mut snapshot = testing::snapshot(events[0], 1, at(0));
    snapshot.captured_at += chrono::Duration::nanoseconds(1_500);
    store::write_snapshots(db, &[snapshot]).await.unwrap();
    // A row another client writes, relying on the column defaults.
    crate::sql::execute(
        db,
        "INSERT INTO scrape_runs (status) VALUES ($1)",
        vec!["pending".into()],
    )
    .await
    .unwrap();
    if db.get_database_backend() != DbBackend::Sqlite {
        return; // timestamptz has no text form to disagree on
    }
    let texts: Vec<String> = crate::sql::query_all(
        db,
        "SELECT created_at AS t FROM competitor_events \
         UNION ALL SELECT updated_at FROM competitor_events \
         UNION ALL SELECT captured_at FROM competitor_odds_snapshots \
         UNION ALL SELECT started_at FROM scrape_runs",
        vec![],
    )
    .await
    .iter()
    .map(|row| row.try_get("", "t").unwrap())
    .collect();
    assert_eq!(texts.len(), 4);
    for text in &texts {
        // 2026-11-26T14:42:12[.fff[fff]]+00:00: RFC 3339 in UTC, so text order is time order.
        let (date_time, offset) = text.split_at(text.len() - 6);
        assert_eq!(offset, "+00:00", "{text}");
        assert_eq!(&date_time[10..11], "T", "{text}");
        assert!(date_time.len() <= 26, "at most microseconds: {text}");
        assert!(DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
    }
}
both!(timestamps_written_by_default_and_by_the_crates_share_one_format);
