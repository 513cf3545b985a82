//! The write rules: each refused with an error naming the table, field and rule, through
//! `before_save` (as `DbErr::Custom`) and through `validate()` (typed), writing nothing.

use entity::outcome::{Outcome, Outcomes};
use entity::prelude::*;
use entity::validation::{Rule, ValidationError};
use entity::{CompetitorSource, competitor_event, competitor_market_odds, competitor_tournament};
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, PaginatorTrait, Set};

use crate::both;
use crate::fixtures::*;
use sea_orm::DatabaseConnection;

/// Inserting `row` fails with a message that starts with `table.field`, `validate()`
/// gives the typed error naming the same `table.field` and a rule `rule` matches, and the
/// table's row count is unchanged.
macro_rules! assert_refused {
    ($db:expr, $row:expr, $table_field:expr, $rule:pat) => {{
        let row = $row;
        let table_field: &str = $table_field;
        let before = rows_of(&row, $db).await;
        match row.validate() {
            Err(ValidationError {
                table,
                field,
                rule: $rule,
            }) if format!("{table}.{field}") == table_field => {}
            other => panic!("validate() of {table_field}: {other:?}"),
        }
        let err = row
            .clone()
            .insert($db)
            .await
            .expect_err("before_save refuses");
        let DbErr::Custom(message) = &err else {
            panic!("expected DbErr::Custom, got {err:?}")
        };
        assert!(message.starts_with(&format!("{table_field} ")), "{message}");
        assert_eq!(rows_of(&row, $db).await, before, "nothing written");
    }};
}

/// How many rows the table `row` is written to holds.
async fn rows_of<A>(_row: &A, db: &DatabaseConnection) -> u64
where
    A: ActiveModelTrait,
    <A::Entity as EntityTrait>::Model: Sync,
{
    A::Entity::find().count(db).await.unwrap()
}

async fn setup(db: &DatabaseConnection) -> (i32, competitor_tournament::Model) {
    let football = sport(db, "football").await;
    let tournament =
        competitor_tournament(db, football.id, CompetitorSource::Sportybet, "t-1").await;
    (football.id, tournament)
}

async fn a_string_longer_than_its_column_is_refused(db: &DatabaseConnection) {
    let (sport_id, tournament) = setup(db).await;
    let mut row = tournament_model(sport_id, CompetitorSource::Bet9ja, "t-2");
    row.name = Set("x".repeat(256));
    assert_refused!(
        db,
        row,
        "competitor_tournaments.name",
        Rule::TooLong { max: 255, len: 256 }
    );
    // Characters, not bytes: 256 two-byte characters are too long, 255 fit a varchar(255).
    let home_team_of = |characters: usize| {
        let mut row = event_model(&tournament, "e-1", "1");
        row.home_team = Set("é".repeat(characters));
        row
    };
    assert_refused!(
        db,
        home_team_of(256),
        "competitor_events.home_team",
        Rule::TooLong { max: 255, len: 256 }
    );
    let row = home_team_of(255);
    row.insert(db).await.expect("255 characters fit");
}
both!(a_string_longer_than_its_column_is_refused);

async fn an_empty_name_is_refused(db: &DatabaseConnection) {
    let (sport_id, tournament) = setup(db).await;
    let mut row = tournament_model(sport_id, CompetitorSource::Bet9ja, "t-2");
    row.name = Set("  ".to_owned());
    assert_refused!(db, row, "competitor_tournaments.name", Rule::Empty);
    let mut row = event_model(&tournament, "e-1", "1");
    row.name = Set(String::new());
    assert_refused!(db, row, "competitor_events.name", Rule::Empty);
}
both!(an_empty_name_is_refused);

async fn an_empty_external_id_is_refused(db: &DatabaseConnection) {
    let (sport_id, tournament) = setup(db).await;
    let row = tournament_model(sport_id, CompetitorSource::Bet9ja, "");
    assert_refused!(db, row, "competitor_tournaments.external_id", Rule::Empty);
    let row = event_model(&tournament, "", "1");
    assert_refused!(db, row, "competitor_events.external_id", Rule::Empty);
}
both!(an_empty_external_id_is_refused);

async fn an_empty_sportradar_id_is_refused(db: &DatabaseConnection) {
    let (sport_id, tournament) = setup(db).await;
    let row = event_model(&tournament, "e-1", "");
    assert_refused!(db, row, "competitor_events.sportradar_id", Rule::Empty);
    let mut row = tournament_model(sport_id, CompetitorSource::Bet9ja, "t-2");
    row.sportradar_id = Set(Some(String::new()));
    assert_refused!(db, row, "competitor_tournaments.sportradar_id", Rule::Empty);
}
both!(an_empty_sportradar_id_is_refused);

async fn a_country_iso_must_be_three_ascii_capitals(db: &DatabaseConnection) {
    let (sport_id, _) = setup(db).await;
    for bad in ["en", "eng", "ENGL", "EN1", "ÉNG"] {
        let mut row = tournament_model(sport_id, CompetitorSource::Bet9ja, "t-2");
        row.country_iso = Set(Some(bad.to_owned()));
        assert_refused!(
            db,
            row,
            "competitor_tournaments.country_iso",
            Rule::NotCountryIso(_)
        );
    }
    let mut row = tournament_model(sport_id, CompetitorSource::Bet9ja, "t-2");
    row.country_iso = Set(None);
    row.insert(db).await.expect("no country is fine");
}
both!(a_country_iso_must_be_three_ascii_capitals);

async fn snapshot_id(db: &DatabaseConnection, tournament: &competitor_tournament::Model) -> i64 {
    let event = competitor_event(db, tournament, "e-1").await;
    snapshot(db, event.id, None).await.id
}

async fn a_non_finite_line_or_handicap_is_refused(db: &DatabaseConnection) {
    let (_, tournament) = setup(db).await;
    let snapshot = snapshot_id(db, &tournament).await;
    let nan_line = market_model(snapshot, "5000", Some(f64::NAN), one_x_two(1.9, 3.0, 4.0));
    let handicap = || market_model(snapshot, "3744", None, one_x_two(1.9, 3.0, 4.0));
    let mut infinite_home = handicap();
    infinite_home.handicap_home = Set(Some(f64::INFINITY));
    let mut infinite_away = handicap();
    infinite_away.handicap_away = Set(Some(f64::NEG_INFINITY));
    for (row, table_field) in [
        (nan_line, "competitor_market_odds.line"),
        (infinite_home, "competitor_market_odds.handicap_home"),
        (infinite_away, "competitor_market_odds.handicap_away"),
    ] {
        assert_refused!(db, row, table_field, Rule::NotFinite(_));
    }
}
both!(a_non_finite_line_or_handicap_is_refused);

async fn an_empty_handicap_type_is_refused(db: &DatabaseConnection) {
    let (_, tournament) = setup(db).await;
    let snapshot = snapshot_id(db, &tournament).await;
    let mut row = market_model(snapshot, "3744", None, one_x_two(1.9, 3.0, 4.0));
    row.handicap_type = Set(Some(String::new()));
    assert_refused!(db, row, "competitor_market_odds.handicap_type", Rule::Empty);
}
both!(an_empty_handicap_type_is_refused);

async fn odds_must_be_finite_and_at_least_one(db: &DatabaseConnection) {
    let (_, tournament) = setup(db).await;
    let snapshot = snapshot_id(db, &tournament).await;
    for odds in [0.95, f64::NAN, f64::INFINITY, -2.0] {
        let outcomes = Outcomes(vec![Outcome::new("1", 1.5), Outcome::new("2", odds)]);
        let row = market_model(snapshot, "3743", None, outcomes);
        assert_refused!(
            db,
            row,
            "competitor_market_odds.outcomes",
            Rule::InvalidOdds { index: 1, .. }
        );
    }
    let evens = Outcomes(vec![Outcome::new("1", 1.0), Outcome::new("2", 1.0)]);
    market_model(snapshot, "3743", None, evens)
        .insert(db)
        .await
        .expect("1.0 is valid odds");
}
both!(odds_must_be_finite_and_at_least_one);

async fn an_update_is_checked_too_and_leaves_the_row(db: &DatabaseConnection) {
    let (_, tournament) = setup(db).await;
    let event = competitor_event(db, &tournament, "e-1").await;
    let mut change: competitor_event::ActiveModel = event.clone().into();
    change.sportradar_id = Set("x".repeat(101));
    let err = change.update(db).await.expect_err("too long");
    assert!(
        err.to_string().contains("competitor_events.sportradar_id"),
        "{err}"
    );
    assert_eq!(
        CompetitorEvent::find_by_id(event.id).one(db).await.unwrap(),
        Some(event)
    );
}
both!(an_update_is_checked_too_and_leaves_the_row);

#[test]
fn validation_errors_read_well() {
    let err = ValidationError {
        table: "competitor_tournaments",
        field: "country_iso",
        rule: Rule::NotCountryIso("en".into()),
    };
    assert_eq!(
        err.to_string(),
        r#"competitor_tournaments.country_iso must be 3 ASCII capital letters, got "en""#
    );
    let err = ValidationError {
        table: "competitor_market_odds",
        field: "outcomes",
        rule: Rule::InvalidOdds {
            index: 2,
            odds: 0.9,
        },
    };
    assert_eq!(
        err.to_string(),
        "competitor_market_odds.outcomes outcome 2 has odds 0.9; odds must be finite and at least 1.0"
    );
    let _ = competitor_market_odds::Column::Outcomes;
}
