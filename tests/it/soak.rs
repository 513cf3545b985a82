//! `competitor_db::soak` at its smallest sizes: scrapers, the Python service's captures,
//! readers and retention run together for a few rounds with no error, and the store stays
//! true; and the check that says so finds a current row that differs from history.

use competitor_db::soak::{self, SoakConfig};
use sea_orm::DatabaseConnection;

use crate::postgres;
use crate::sql::execute;

/// The smallest soak that still runs every task: retention every other round keeping one
/// round, so it purges history and deleted events; events vanishing, returning and leaving.
fn smallest() -> SoakConfig {
    SoakConfig {
        events: 20,
        markets: 6,
        rounds: 4,
        readers: 2,
        page_size: 5,
        history_every: 3,
        foreign_share: 0.2,
        change_rate: 0.2,
        suspend_rate: 0.05,
        vanish_rate: 0.05,
        turnover: 2,
        purge_every: 2,
        keep_rounds: 1,
        purge_batch: 10,
        autovacuum: true,
        idle_ms: 50,
        progress: false,
        ..SoakConfig::default()
    }
}

async fn a_few_rounds_of_the_soak_keep_the_store_true(db: &DatabaseConnection) {
    let report = soak::run(db, &smallest()).await.expect("soak");
    let line = report.line();
    assert!(line.starts_with("soak rounds=4 errors=0 "), "{line}");
    assert_eq!(report.errors, 0, "{line}");
    assert!(
        report.invariant_ok,
        "{line}\n{:#?}",
        report.invariant_failures
    );
    assert!(line.ends_with(" invariant=ok"), "{line}");
    assert!(report.reads > 0, "{line}");
    assert!(report.history_rows > 0 && report.current_rows > 0, "{line}");
    assert!(report.foreign_captures > 0, "{}", report.details());
    assert!(report.purges > 0, "{}", report.details());
    assert!(report.rss_mb_end >= report.rss_mb_first_quarter, "{line}");

    // The check compares rows: one current market's outcomes changed behind the store's
    // back is one row on each side.
    assert_eq!(
        soak::current_odds_divergences(db).await.expect("check"),
        Vec::<String>::new()
    );
    execute(
        db,
        "UPDATE competitor_market_odds_current SET outcomes = CAST($1 AS json) \
         WHERE id = (SELECT MIN(id) FROM competitor_market_odds_current)",
        vec![r#"[{"name":"1","odds":9.99,"is_active":true}]"#.into()],
    )
    .await
    .expect("tamper");
    let divergences = soak::current_odds_divergences(db).await.expect("check");
    assert_eq!(divergences.len(), 2, "{divergences:#?}");
    assert!(
        divergences
            .iter()
            .any(|d| d.starts_with("table only") && d.contains("9.99")),
        "{divergences:#?}"
    );
}
postgres!(a_few_rounds_of_the_soak_keep_the_store_true);
