use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use std::time::Instant;
#[tokio::main]
async fn main() {
    let db = Database::connect("postgres://postgres@127.0.0.1/bench1?sslmode=disable")
        .await
        .unwrap();
    for sql in [
        "SELECT id, competitor_event_id, betpawa_market_id, betpawa_market_name, line, handicap_type, handicap_home, handicap_away, CAST(outcomes AS text) AS outcomes, unavailable_at FROM competitor_market_odds_current",
        "SELECT id, competitor_event_id, CAST(outcomes AS text) AS outcomes FROM competitor_market_odds_current",
        "SELECT id FROM competitor_market_odds_current",
    ] {
        for _ in 0..3 {
            let t = Instant::now();
            let rows = db
                .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
                .await
                .unwrap();
            let q = t.elapsed();
            let mut n = 0usize;
            for r in &rows {
                let id: i64 = r.try_get_by_index(0).unwrap();
                n += id as usize;
            }
            println!("{} rows {:?} query {:?} total", rows.len(), q, t.elapsed());
            let _ = n;
        }
    }
}
