//! The migrated catalog on PostgreSQL equals `shared/schema-reference.sql`, written out below
//! as pg_catalog renders it (columns with types, nullability and defaults; constraints with
//! their definitions; indexes with their columns and predicates).

use migration::{Migrator, MigratorTrait};
use sea_orm::DatabaseConnection;

use crate::postgres;
use crate::sql::{assert_lines, lines};

/// `table.column type [NOT NULL] [DEFAULT expr]`, in table and column order.
const EXPECTED_COLUMNS: &[&str] = &[
    "competitor_events.id integer NOT NULL DEFAULT nextval('competitor_events_id_seq'::regclass)",
    "competitor_events.source character varying(20) NOT NULL",
    "competitor_events.tournament_id integer NOT NULL",
    "competitor_events.betpawa_event_id integer",
    "competitor_events.name character varying(500) NOT NULL",
    "competitor_events.home_team character varying(255) NOT NULL",
    "competitor_events.away_team character varying(255) NOT NULL",
    "competitor_events.kickoff timestamp with time zone NOT NULL",
    "competitor_events.external_id character varying(100) NOT NULL",
    "competitor_events.sportradar_id character varying(100) NOT NULL",
    "competitor_events.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "competitor_events.updated_at timestamp with time zone NOT NULL DEFAULT now()",
    "competitor_events.deleted_at timestamp with time zone",
    "competitor_market_odds.id bigint NOT NULL DEFAULT nextval('competitor_market_odds_id_seq'::regclass)",
    "competitor_market_odds.snapshot_id bigint NOT NULL",
    "competitor_market_odds.betpawa_market_id character varying(50) NOT NULL",
    "competitor_market_odds.betpawa_market_name character varying(255) NOT NULL",
    "competitor_market_odds.line double precision",
    "competitor_market_odds.handicap_type character varying(50)",
    "competitor_market_odds.handicap_home double precision",
    "competitor_market_odds.handicap_away double precision",
    "competitor_market_odds.outcomes json NOT NULL",
    "competitor_market_odds_current.id bigint NOT NULL DEFAULT nextval('competitor_market_odds_current_id_seq'::regclass)",
    "competitor_market_odds_current.competitor_event_id integer NOT NULL",
    "competitor_market_odds_current.betpawa_market_id character varying(50) NOT NULL",
    "competitor_market_odds_current.betpawa_market_name character varying(255) NOT NULL",
    "competitor_market_odds_current.line double precision",
    "competitor_market_odds_current.handicap_type character varying(50)",
    "competitor_market_odds_current.handicap_home double precision",
    "competitor_market_odds_current.handicap_away double precision",
    "competitor_market_odds_current.outcomes json NOT NULL",
    "competitor_market_odds_current.changed_at timestamp with time zone NOT NULL",
    "competitor_market_odds_current.unavailable_at timestamp with time zone",
    "competitor_odds_snapshots.id bigint NOT NULL DEFAULT nextval('competitor_odds_snapshots_id_seq'::regclass)",
    "competitor_odds_snapshots.competitor_event_id integer NOT NULL",
    "competitor_odds_snapshots.captured_at timestamp with time zone NOT NULL DEFAULT now()",
    "competitor_odds_snapshots.scrape_run_id integer",
    "competitor_odds_snapshots.raw_response json",
    "competitor_odds_snapshots.last_confirmed_at timestamp with time zone",
    "competitor_odds_snapshots.kind character varying(6) NOT NULL DEFAULT 'full'::character varying",
    "competitor_tournaments.id integer NOT NULL DEFAULT nextval('competitor_tournaments_id_seq'::regclass)",
    "competitor_tournaments.source character varying(20) NOT NULL",
    "competitor_tournaments.sport_id integer NOT NULL",
    "competitor_tournaments.name character varying(255) NOT NULL",
    "competitor_tournaments.country_raw character varying(100)",
    "competitor_tournaments.country_iso character varying(3)",
    "competitor_tournaments.external_id character varying(100) NOT NULL",
    "competitor_tournaments.sportradar_id character varying(100)",
    "competitor_tournaments.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "competitor_tournaments.deleted_at timestamp with time zone",
    "events.id integer NOT NULL DEFAULT nextval('events_id_seq'::regclass)",
    "events.tournament_id integer NOT NULL",
    "events.name character varying(500) NOT NULL",
    "events.home_team character varying(255) NOT NULL",
    "events.away_team character varying(255) NOT NULL",
    "events.kickoff timestamp with time zone NOT NULL",
    "events.sportradar_id character varying(100) NOT NULL",
    "events.created_at timestamp with time zone NOT NULL DEFAULT now()",
    "scrape_runs.id integer NOT NULL DEFAULT nextval('scrape_runs_id_seq'::regclass)",
    "scrape_runs.status character varying(20) NOT NULL DEFAULT 'pending'::character varying",
    "scrape_runs.started_at timestamp with time zone NOT NULL DEFAULT now()",
    "scrape_runs.completed_at timestamp with time zone",
    "scrape_runs.events_scraped integer NOT NULL DEFAULT 0",
    "scrape_runs.events_failed integer NOT NULL DEFAULT 0",
    "scrape_runs.trigger character varying(50)",
    "sports.id integer NOT NULL DEFAULT nextval('sports_id_seq'::regclass)",
    "sports.name character varying(100) NOT NULL",
    "sports.slug character varying(100) NOT NULL",
    "tournaments.id integer NOT NULL DEFAULT nextval('tournaments_id_seq'::regclass)",
    "tournaments.sport_id integer NOT NULL",
    "tournaments.name character varying(255) NOT NULL",
    "tournaments.country character varying(100)",
    "tournaments.sportradar_id character varying(100)",
];

/// `table name definition`, sorted.
const EXPECTED_CONSTRAINTS: &[&str] = &[
    "competitor_events ck_competitor_events_source CHECK (((source)::text = ANY ((ARRAY['sportybet'::character varying, 'bet9ja'::character varying])::text[])))",
    "competitor_events fk_competitor_events_betpawa_event_id_events FOREIGN KEY (betpawa_event_id) REFERENCES events(id) ON DELETE SET NULL",
    "competitor_events fk_competitor_events_tournament_id_competitor_tournaments FOREIGN KEY (tournament_id) REFERENCES competitor_tournaments(id) ON DELETE CASCADE",
    "competitor_events pk_competitor_events PRIMARY KEY (id)",
    "competitor_events uq_competitor_events_source_external UNIQUE (source, external_id)",
    "competitor_market_odds fk_competitor_market_odds_snapshot_id_competitor_odds_snapshots FOREIGN KEY (snapshot_id) REFERENCES competitor_odds_snapshots(id) ON DELETE CASCADE",
    "competitor_market_odds pk_competitor_market_odds PRIMARY KEY (id)",
    "competitor_market_odds_current fk_competitor_market_odds_current_competitor_event_id_competito FOREIGN KEY (competitor_event_id) REFERENCES competitor_events(id) ON DELETE CASCADE",
    "competitor_market_odds_current pk_competitor_market_odds_current PRIMARY KEY (id)",
    "competitor_market_odds_current uq_competitor_market_odds_current_market UNIQUE NULLS NOT DISTINCT (competitor_event_id, betpawa_market_id, line, handicap_type, handicap_home, handicap_away)",
    "competitor_odds_snapshots ck_competitor_odds_snapshots_kind CHECK (((kind)::text = ANY ((ARRAY['full'::character varying, 'change'::character varying, 'stale'::character varying])::text[])))",
    "competitor_odds_snapshots competitor_odds_snapshots_fold TRIGGER DEFERRABLE INITIALLY DEFERRED",
    "competitor_odds_snapshots fk_competitor_odds_snapshots_competitor_event_id_competitor_eve FOREIGN KEY (competitor_event_id) REFERENCES competitor_events(id) ON DELETE CASCADE",
    "competitor_odds_snapshots fk_competitor_odds_snapshots_scrape_run_id_scrape_runs FOREIGN KEY (scrape_run_id) REFERENCES scrape_runs(id) ON DELETE SET NULL",
    "competitor_odds_snapshots pk_competitor_odds_snapshots PRIMARY KEY (id)",
    "competitor_tournaments ck_competitor_tournaments_source CHECK (((source)::text = ANY ((ARRAY['sportybet'::character varying, 'bet9ja'::character varying])::text[])))",
    "competitor_tournaments fk_competitor_tournaments_sport_id_sports FOREIGN KEY (sport_id) REFERENCES sports(id) ON DELETE RESTRICT",
    "competitor_tournaments pk_competitor_tournaments PRIMARY KEY (id)",
    "competitor_tournaments uq_competitor_tournaments_source_external UNIQUE (source, external_id)",
    "events fk_events_tournament_id_tournaments FOREIGN KEY (tournament_id) REFERENCES tournaments(id)",
    "events pk_events PRIMARY KEY (id)",
    "events uq_events_sportradar_id UNIQUE (sportradar_id)",
    "scrape_runs pk_scrape_runs PRIMARY KEY (id)",
    "sports pk_sports PRIMARY KEY (id)",
    "sports uq_sports_name UNIQUE (name)",
    "sports uq_sports_slug UNIQUE (slug)",
    "tournaments fk_tournaments_sport_id_sports FOREIGN KEY (sport_id) REFERENCES sports(id)",
    "tournaments pk_tournaments PRIMARY KEY (id)",
    "tournaments uq_tournaments_sportradar_id UNIQUE (sportradar_id)",
];

/// `pg_indexes.indexdef`, sorted by index name.
const EXPECTED_INDEXES: &[&str] = &[
    "CREATE INDEX idx_competitor_events_betpawa ON public.competitor_events USING btree (betpawa_event_id) WHERE (betpawa_event_id IS NOT NULL)",
    "CREATE INDEX idx_competitor_events_kickoff ON public.competitor_events USING btree (kickoff)",
    "CREATE INDEX idx_competitor_events_source ON public.competitor_events USING btree (source)",
    "CREATE INDEX idx_competitor_events_sr_id ON public.competitor_events USING btree (sportradar_id)",
    "CREATE INDEX idx_competitor_events_tournament ON public.competitor_events USING btree (tournament_id)",
    "CREATE INDEX idx_competitor_market_odds_market ON public.competitor_market_odds USING btree (betpawa_market_id)",
    "CREATE INDEX idx_competitor_market_odds_snapshot ON public.competitor_market_odds USING btree (snapshot_id)",
    "CREATE INDEX idx_competitor_odds_snapshots_captured ON public.competitor_odds_snapshots USING btree (captured_at)",
    "CREATE INDEX idx_competitor_odds_snapshots_event ON public.competitor_odds_snapshots USING btree (competitor_event_id)",
    "CREATE INDEX idx_competitor_odds_snapshots_event_newest ON public.competitor_odds_snapshots USING btree (competitor_event_id, captured_at DESC, id DESC)",
    "CREATE INDEX idx_competitor_tournaments_source ON public.competitor_tournaments USING btree (source)",
    "CREATE INDEX idx_competitor_tournaments_sport ON public.competitor_tournaments USING btree (sport_id)",
    "CREATE INDEX idx_competitor_tournaments_sr_id ON public.competitor_tournaments USING btree (sportradar_id) WHERE (sportradar_id IS NOT NULL)",
    "CREATE INDEX idx_scrape_runs_started ON public.scrape_runs USING btree (started_at)",
    "CREATE INDEX idx_scrape_runs_status ON public.scrape_runs USING btree (status)",
    "CREATE UNIQUE INDEX pk_competitor_events ON public.competitor_events USING btree (id)",
    "CREATE UNIQUE INDEX pk_competitor_market_odds ON public.competitor_market_odds USING btree (id)",
    "CREATE UNIQUE INDEX pk_competitor_market_odds_current ON public.competitor_market_odds_current USING btree (id)",
    "CREATE UNIQUE INDEX pk_competitor_odds_snapshots ON public.competitor_odds_snapshots USING btree (id)",
    "CREATE UNIQUE INDEX pk_competitor_tournaments ON public.competitor_tournaments USING btree (id)",
    "CREATE UNIQUE INDEX pk_events ON public.events USING btree (id)",
    "CREATE UNIQUE INDEX pk_scrape_runs ON public.scrape_runs USING btree (id)",
    "CREATE UNIQUE INDEX pk_sports ON public.sports USING btree (id)",
    "CREATE UNIQUE INDEX pk_tournaments ON public.tournaments USING btree (id)",
    "CREATE UNIQUE INDEX uq_competitor_events_source_external ON public.competitor_events USING btree (source, external_id)",
    "CREATE UNIQUE INDEX uq_competitor_market_odds_current_market ON public.competitor_market_odds_current USING btree (competitor_event_id, betpawa_market_id, line, handicap_type, handicap_home, handicap_away) NULLS NOT DISTINCT",
    "CREATE UNIQUE INDEX uq_competitor_tournaments_source_external ON public.competitor_tournaments USING btree (source, external_id)",
    "CREATE UNIQUE INDEX uq_events_sportradar_id ON public.events USING btree (sportradar_id)",
    "CREATE UNIQUE INDEX uq_sports_name ON public.sports USING btree (name)",
    "CREATE UNIQUE INDEX uq_sports_slug ON public.sports USING btree (slug)",
    "CREATE UNIQUE INDEX uq_tournaments_sportradar_id ON public.tournaments USING btree (sportradar_id)",
];

/// `pg_get_triggerdef`, sorted by trigger name: the fold of migration 4.
const EXPECTED_TRIGGERS: &[&str] = &[
    "CREATE CONSTRAINT TRIGGER competitor_odds_snapshots_fold AFTER INSERT ON public.competitor_odds_snapshots DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN ((current_setting('competitor_db.folding'::text, true) IS DISTINCT FROM 'store'::text)) EXECUTE FUNCTION competitor_odds_snapshots_fold()",
    "CREATE TRIGGER competitor_odds_snapshots_noted AFTER INSERT ON public.competitor_odds_snapshots REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT WHEN ((current_setting('competitor_db.folding'::text, true) IS DISTINCT FROM 'store'::text)) EXECUTE FUNCTION competitor_odds_snapshots_noted()",
];

/// `name(arguments)` of the functions in the public schema, sorted.
const EXPECTED_FUNCTIONS: &[&str] = &[
    "competitor_fold_pending()",
    "competitor_fold_snapshots(snapshots bigint[], incremental boolean)",
    "competitor_fold_wave(snapshots bigint[])",
    "competitor_market_key(market_id character varying, line double precision, handicap_type character varying, handicap_home double precision, handicap_away double precision)",
    "competitor_odds_snapshots_fold()",
    "competitor_odds_snapshots_noted()",
    "competitor_offered_markets(snapshots bigint[], snapshot_kind character varying)",
    "competitor_outcome_list(outcomes json)",
    "competitor_rebuild_current_odds(events integer[])",
    "competitor_same_outcomes(a json, b json)",
];

const TRIGGERS_SQL: &str = "\
    SELECT pg_get_triggerdef(t.oid) AS line FROM pg_trigger t \
    JOIN pg_class c ON c.oid = t.tgrelid \
    WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal \
    ORDER BY t.tgname";

const FUNCTIONS_SQL: &str = "\
    SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS line \
    FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1";

const COLUMNS_SQL: &str = "\
    SELECT c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
        || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END \
        || COALESCE(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '') AS line \
    FROM pg_attribute a \
    JOIN pg_class c ON c.oid = a.attrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
    WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped \
      AND c.relname NOT IN ('seaql_migrations', 'competitor_db_migrations') \
    ORDER BY c.relname, a.attnum";

const CONSTRAINTS_SQL: &str = "\
    SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS line \
    FROM pg_constraint \
    WHERE connamespace = 'public'::regnamespace \
      AND conrelid::regclass::text NOT IN ('seaql_migrations', 'competitor_db_migrations') \
    ORDER BY 1";

const INDEXES_SQL: &str = "\
    SELECT indexdef AS line FROM pg_indexes \
    WHERE schemaname = 'public' \
      AND tablename NOT IN ('seaql_migrations', 'competitor_db_migrations') \
    ORDER BY indexname";

/// The catalog of `db`'s public schema against the reference.
pub async fn assert_reference_catalog(db: &DatabaseConnection) {
    assert_lines("columns", &lines(db, COLUMNS_SQL).await, EXPECTED_COLUMNS);
    assert_lines(
        "constraints",
        &lines(db, CONSTRAINTS_SQL).await,
        EXPECTED_CONSTRAINTS,
    );
    assert_lines("indexes", &lines(db, INDEXES_SQL).await, EXPECTED_INDEXES);
    assert_fold(db).await;
}

/// The fold's triggers and functions (migration 4) against the reference.
pub async fn assert_fold(db: &DatabaseConnection) {
    assert_lines(
        "triggers",
        &lines(db, TRIGGERS_SQL).await,
        EXPECTED_TRIGGERS,
    );
    assert_lines(
        "functions",
        &lines(db, FUNCTIONS_SQL).await,
        EXPECTED_FUNCTIONS,
    );
}

/// Every catalog line of `db`'s public schema (columns, then constraints, then indexes),
/// to compare a database before and after something that must not change it.
pub async fn catalog(db: &DatabaseConnection) -> Vec<String> {
    let mut all = lines(db, COLUMNS_SQL).await;
    all.extend(lines(db, CONSTRAINTS_SQL).await);
    all.extend(lines(db, INDEXES_SQL).await);
    all
}

/// The catalog of the competitor tables against the reference, plus `extra_columns`
/// (`table.column type ...` lines, as in [`EXPECTED_COLUMNS`]) that another tool added;
/// compared as sets, since columns added later come last whatever the reference's order.
/// Base tables are not compared: where the Python service created them, they keep its
/// shape.
pub async fn assert_competitor_catalog(db: &DatabaseConnection, extra_columns: &[&str]) {
    let competitor = |line: &&str| line.starts_with("competitor_");
    let mut expected_columns: Vec<&str> = EXPECTED_COLUMNS
        .iter()
        .copied()
        .filter(competitor)
        .chain(extra_columns.iter().copied())
        .collect();
    expected_columns.sort_unstable();
    let expected_constraints: Vec<&str> = EXPECTED_CONSTRAINTS
        .iter()
        .copied()
        .filter(competitor)
        .collect();
    let index_of_competitor_table = |line: &&str| line.contains(" ON public.competitor_");
    let expected_indexes: Vec<&str> = EXPECTED_INDEXES
        .iter()
        .copied()
        .filter(index_of_competitor_table)
        .collect();

    let mut columns: Vec<String> = lines(db, COLUMNS_SQL)
        .await
        .into_iter()
        .filter(|line| competitor(&line.as_str()))
        .collect();
    columns.sort_unstable();
    let constraints: Vec<String> = lines(db, CONSTRAINTS_SQL)
        .await
        .into_iter()
        .filter(|line| competitor(&line.as_str()))
        .collect();
    let indexes: Vec<String> = lines(db, INDEXES_SQL)
        .await
        .into_iter()
        .filter(|line| index_of_competitor_table(&line.as_str()))
        .collect();
    assert_lines("competitor columns", &columns, &expected_columns);
    assert_lines(
        "competitor constraints",
        &constraints,
        &expected_constraints,
    );
    assert_lines("competitor indexes", &indexes, &expected_indexes);
    assert_fold(db).await;
}

async fn up_on_an_empty_database_produces_the_reference_catalog(db: &DatabaseConnection) {
    Migrator::up(db, None).await.expect("up");
    assert_reference_catalog(db).await;
}
postgres!(empty: up_on_an_empty_database_produces_the_reference_catalog);

#[tokio::test]
async fn the_planned_index_list_matches_the_plan() {
    let names: Vec<String> = migration::planned_indexes()
        .iter()
        .map(|index| {
            index
                .get_index_spec()
                .get_name()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = EXPECTED_INDEXES
        .iter()
        .filter_map(|def| def.strip_prefix("CREATE INDEX "))
        .filter(|def| def.starts_with("idx_competitor_"))
        // Migration 3's, measured and added on its own (SCHEMA.md).
        .filter(|def| !def.starts_with("idx_competitor_odds_snapshots_event_newest"))
        .map(|def| def.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, expected);
}
