//! Converging competitor tables that already exist, such as those the Python service's
//! Alembic migrations created, to the reference schema, keeping every row and value.
//!
//! How, all in the migration's one transaction (PostgreSQL only):
//! 1. lock the existing tables (`ACCESS EXCLUSIVE`), so no row changes between the checks
//!    and the changes, and every later lock is taken in one order;
//! 2. build the reference: the migration's own `CREATE` statements, run in a scratch schema
//!    ([`REFERENCE_SCHEMA`], dropped at the end), so there is one definition of the schema;
//! 3. read both catalogs (columns, constraints, indexes) and plan the changes: convert
//!    column types (`timestamp` becomes `timestamptz`, read as UTC), add missing reference
//!    columns (nullable), rename constraints and indexes found under other names, re-create
//!    foreign keys whose ON DELETE rule differs, add missing constraints and indexes;
//! 4. count the rows each new rule would reject; if any would, change nothing and fail with
//!    one message listing every problem;
//! 5. run the plan.
//!
//! Columns, constraints and indexes the reference does not know (the service's own) stay
//! as they are.

use sea_orm::{
    ConnectionTrait, DbBackend, DbErr, FromQueryResult, QueryResult, Statement, TryGetable, Value,
};
use sea_orm_migration::SchemaManager;
use sea_orm_migration::sea_query::{
    IndexCreateStatement, PostgresQueryBuilder, TableCreateStatement,
};

/// The scratch schema that holds the reference tables while converging.
pub const REFERENCE_SCHEMA: &str = "competitor_db_reference";

/// The tables and indexes a migration creates.
pub(crate) struct Reference {
    pub(crate) tables: Vec<TableCreateStatement>,
    pub(crate) indexes: Vec<IndexCreateStatement>,
}

impl Reference {
    /// Creates the tables, then the indexes, in the first schema of the search path.
    pub(crate) async fn create(&self, manager: &SchemaManager<'_>) -> Result<(), DbErr> {
        for table in &self.tables {
            manager.create_table(table.clone()).await?;
        }
        for index in &self.indexes {
            manager.create_index(index.clone()).await?;
        }
        Ok(())
    }

    /// The `CHECK (..)` clause of the named constraint as the migration writes it.
    ///
    /// PostgreSQL keeps a CHECK as a parsed tree and prints it back in a form that, parsed
    /// again, prints differently (`= ANY ((ARRAY[..])::text[])` comes back as
    /// `= ANY (ARRAY[(..)::text, ..])`), so a CHECK is added with the migration's own text.
    fn check_clause(&self, name: &str) -> Option<String> {
        let marker = format!("CONSTRAINT {} CHECK ", ident(name));
        self.tables.iter().find_map(|table| {
            let ddl = table.to_string(PostgresQueryBuilder);
            let start = ddl.find(&marker)? + marker.len();
            let clause = balanced_parentheses(&ddl[start..])?;
            Some(format!("CHECK {clause}"))
        })
    }
}

/// The parenthesised group `text` starts with, quotes respected.
fn balanced_parentheses(text: &str) -> Option<&str> {
    let mut depth = 0usize;
    let mut quote = None;
    for (at, c) in text.char_indices() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(&text[..=at]);
                }
            }
            (None, _) if depth == 0 => return None,
            (None, _) => {}
        }
    }
    None
}

/// Which of `tables` exist in the current schema.
pub(crate) async fn existing_tables<'a>(
    manager: &SchemaManager<'_>,
    tables: &[&'a str],
) -> Result<Vec<&'a str>, DbErr> {
    let mut existing = Vec::new();
    for table in tables {
        if manager.has_table(*table).await? {
            existing.push(*table);
        }
    }
    Ok(existing)
}

/// Brings the existing `tables` to `reference` (see the module docs).
///
/// # Errors
///
/// - [`DbErr::Migration`] as [`plan`] refuses; nothing is changed then.
/// - Any error of the statements themselves.
pub(crate) async fn converge(
    manager: &SchemaManager<'_>,
    tables: &[&str],
    reference: &Reference,
) -> Result<(), DbErr> {
    let started = std::time::Instant::now();
    tracing::info!(
        target: "sea_orm_migration",
        "Converging the existing tables {} to the reference schema; they stay locked \
         (ACCESS EXCLUSIVE) until this migration commits",
        tables.join(", ")
    );
    let plan = plan(manager, tables, reference).await?;
    let db = manager.get_connection();
    for statement in &plan.statements {
        db.execute_unprepared(statement).await?;
    }
    db.execute_unprepared(&format!("DROP SCHEMA {} CASCADE", ident(REFERENCE_SCHEMA)))
        .await?;
    tracing::info!(
        target: "sea_orm_migration",
        "Converged with {} checks and {} statements in {:.1} s",
        plan.checks.len(),
        plan.statements.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Steps 1 to 4 of the module docs: locks the existing `tables`, builds the reference in
/// the scratch schema (left in place) and plans the changes, refusing where rows would be
/// lost. Run in a transaction that is rolled back, it checks `up` without changing
/// anything.
///
/// # Errors
///
/// [`DbErr::Migration`] when only some of `tables` exist, when the backend is not
/// PostgreSQL, or when rows would break a rule the reference adds (one message, each
/// problem with its table, constraint or column, and row count).
pub(crate) async fn plan(
    manager: &SchemaManager<'_>,
    tables: &[&str],
    reference: &Reference,
) -> Result<Plan, DbErr> {
    let existing = existing_tables(manager, tables).await?;
    if existing.len() != tables.len() {
        let missing: Vec<&str> = tables
            .iter()
            .filter(|table| !existing.contains(table))
            .copied()
            .collect();
        return Err(DbErr::Migration(format!(
            "found the competitor tables {} but not {}; refusing to guess how to complete \
             them, nothing was changed",
            existing.join(", "),
            missing.join(", ")
        )));
    }
    if manager.get_database_backend() != DbBackend::Postgres {
        return Err(DbErr::Migration(format!(
            "the competitor tables ({}) already exist; converging existing tables is \
             supported on PostgreSQL only, nothing was changed",
            tables.join(", ")
        )));
    }
    let db = manager.get_connection();
    let schema = scalar::<String>(db, "SELECT current_schema() AS value", "value").await?;
    let qualified: Vec<String> = tables.iter().map(|table| qualify(&schema, table)).collect();
    db.execute_unprepared(&format!(
        "LOCK TABLE {} IN ACCESS EXCLUSIVE MODE",
        qualified.join(", ")
    ))
    .await?;
    build_reference(manager, reference).await?;
    let mut wanted = Catalog::read(db, REFERENCE_SCHEMA, tables).await?;
    for constraint in &mut wanted.constraints {
        if constraint.kind == "c" {
            constraint.clause = reference.check_clause(&constraint.name);
        }
    }
    let found = Catalog::read(db, &schema, tables).await?;
    let plan = Plan::new(&schema, &wanted, &found);

    let mut problems = Vec::new();
    for check in &plan.checks {
        let rows = scalar::<i64>(db, &check.sql, "n").await?;
        if rows > 0 || check.always_a_problem {
            problems.push(check.describe(rows));
        }
    }
    if !problems.is_empty() {
        return Err(DbErr::Migration(format!(
            "the existing competitor tables cannot take the reference schema without losing \
             data, so nothing was changed: {}. Fix or delete those rows, then run `up` again",
            problems.join("; ")
        )));
    }
    Ok(plan)
}

/// Runs the migration's own statements with the scratch schema first in the search path:
/// the tables land there, and their foreign keys to the base tables resolve to the real
/// ones. The search path is restored afterwards (and by the transaction's end anyway).
async fn build_reference(manager: &SchemaManager<'_>, reference: &Reference) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let search_path = scalar::<String>(
        db,
        "SELECT current_setting('search_path') AS value",
        "value",
    )
    .await?;
    db.execute_unprepared(&format!("CREATE SCHEMA {}", ident(REFERENCE_SCHEMA)))
        .await?;
    set_search_path(db, &format!("{}, {search_path}", ident(REFERENCE_SCHEMA))).await?;
    let created = reference.create(manager).await;
    set_search_path(db, &search_path).await?;
    created
}

async fn set_search_path(db: &impl ConnectionTrait, path: &str) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('search_path', $1, true)",
        [path.into()],
    ))
    .await
    .map(|_| ())
}

/// What the catalog says about the four tables of one schema.
struct Catalog {
    columns: Vec<Column>,
    constraints: Vec<Constraint>,
    /// Indexes that back no constraint.
    indexes: Vec<Index>,
}

#[derive(FromQueryResult)]
struct Column {
    #[sea_orm(alias = "table_name")]
    table: String,
    #[sea_orm(alias = "column_name")]
    name: String,
    /// `format_type`: `timestamp with time zone`, `character varying(20)`, ...
    type_sql: String,
    not_null: bool,
    #[sea_orm(alias = "default_sql")]
    default: Option<String>,
}

struct Constraint {
    table: String,
    name: String,
    /// `p`, `u`, `f` or `c`, as in `pg_constraint.contype`.
    kind: String,
    /// The constrained columns (for a CHECK, the columns it reads).
    columns: Vec<String>,
    referenced_table: Option<String>,
    referenced_columns: Vec<String>,
    /// `pg_constraint.confdeltype` / `confupdtype`: `a` no action, `r` restrict,
    /// `c` cascade, `n` set null, `d` set default.
    on_delete: String,
    on_update: String,
    validated: bool,
    /// `pg_get_constraintdef`, for CHECKs (they read no other table).
    definition: String,
    /// For a reference CHECK: the clause as the migration writes it, to add it with.
    clause: Option<String>,
}

#[derive(FromQueryResult)]
struct Index {
    #[sea_orm(alias = "table_name")]
    table: String,
    name: String,
    #[sea_orm(alias = "is_unique")]
    unique: bool,
    /// The definition from `USING` on: method, columns, predicate.
    shape: String,
}

impl Catalog {
    async fn read(db: &impl ConnectionTrait, schema: &str, tables: &[&str]) -> Result<Self, DbErr> {
        let tables = tables
            .iter()
            .map(|table| literal(table))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = |sql: &str| {
            db.query_all_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql.replace("{tables}", &tables),
                [Value::from(schema)],
            ))
        };
        let columns = rows(COLUMNS_SQL)
            .await?
            .iter()
            .map(|row| Column::from_query_result(row, ""))
            .collect::<Result<_, _>>()?;
        let constraints = rows(CONSTRAINTS_SQL)
            .await?
            .iter()
            .map(Constraint::from_row)
            .collect::<Result<_, _>>()?;
        let indexes = rows(INDEXES_SQL)
            .await?
            .iter()
            .map(|row| Index::from_query_result(row, ""))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            columns,
            constraints,
            indexes,
        })
    }

    fn column(&self, table: &str, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|column| column.table == table && column.name == name)
    }

    fn constraint_named(&self, table: &str, name: &str) -> Option<&Constraint> {
        self.constraints
            .iter()
            .find(|constraint| constraint.table == table && constraint.name == name)
    }

    fn index_named(&self, table: &str, name: &str) -> Option<&Index> {
        self.indexes
            .iter()
            .find(|index| index.table == table && index.name == name)
    }
}

const COLUMNS_SQL: &str = "\
    SELECT c.relname::text AS table_name, a.attname::text AS column_name, \
        format_type(a.atttypid, a.atttypmod) AS type_sql, a.attnotnull AS not_null, \
        pg_get_expr(d.adbin, d.adrelid) AS default_sql \
    FROM pg_attribute a \
    JOIN pg_class c ON c.oid = a.attrelid \
    JOIN pg_namespace n ON n.oid = c.relnamespace \
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
    WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname IN ({tables}) \
      AND a.attnum > 0 AND NOT a.attisdropped \
    ORDER BY c.relname, a.attnum";

const CONSTRAINTS_SQL: &str = "\
    SELECT cl.relname::text AS table_name, con.conname::text AS name, \
        con.contype::text AS kind, \
        array_to_string(ARRAY( \
            SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, position) \
            JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum \
            ORDER BY k.position), ',') AS columns, \
        rf.relname::text AS referenced_table, \
        array_to_string(ARRAY( \
            SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, position) \
            JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum \
            ORDER BY k.position), ',') AS referenced_columns, \
        con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update, \
        con.convalidated AS validated, pg_get_constraintdef(con.oid) AS definition \
    FROM pg_constraint con \
    JOIN pg_class cl ON cl.oid = con.conrelid \
    JOIN pg_namespace n ON n.oid = cl.relnamespace \
    LEFT JOIN pg_class rf ON rf.oid = con.confrelid \
    WHERE n.nspname = $1 AND cl.relname IN ({tables}) AND con.contype IN ('p', 'u', 'f', 'c') \
    ORDER BY cl.relname, con.conname";

const INDEXES_SQL: &str = "\
    SELECT t.relname::text AS table_name, i.relname::text AS name, ix.indisunique AS is_unique, \
        COALESCE(substring(pg_get_indexdef(ix.indexrelid) FROM ' (USING .*)$'), '') AS shape \
    FROM pg_index ix \
    JOIN pg_class i ON i.oid = ix.indexrelid \
    JOIN pg_class t ON t.oid = ix.indrelid \
    JOIN pg_namespace n ON n.oid = t.relnamespace \
    WHERE n.nspname = $1 AND t.relname IN ({tables}) \
      AND NOT EXISTS (SELECT 1 FROM pg_constraint con \
                      WHERE con.conindid = ix.indexrelid AND con.conrelid = ix.indrelid \
                        AND con.contype IN ('p', 'u', 'x')) \
    ORDER BY t.relname, i.relname";

impl Constraint {
    fn from_row(row: &QueryResult) -> Result<Self, DbErr> {
        let list = |column: &str| -> Result<Vec<String>, DbErr> {
            let joined: String = row.try_get("", column)?;
            Ok(joined
                .split(',')
                .filter(|name| !name.is_empty())
                .map(str::to_owned)
                .collect())
        };
        Ok(Self {
            table: row.try_get("", "table_name")?,
            name: row.try_get("", "name")?,
            kind: row.try_get("", "kind")?,
            columns: list("columns")?,
            referenced_table: row.try_get("", "referenced_table")?,
            referenced_columns: list("referenced_columns")?,
            on_delete: row.try_get("", "on_delete")?,
            on_update: row.try_get("", "on_update")?,
            validated: row.try_get("", "validated")?,
            definition: row.try_get("", "definition")?,
            clause: None,
        })
    }

    /// The same rule on the same columns, whatever its name, actions or validation.
    fn same_rule(&self, other: &Constraint) -> bool {
        self.table == other.table
            && self.kind == other.kind
            && match self.kind.as_str() {
                "c" => self.check_expression() == other.check_expression(),
                "f" => {
                    self.columns == other.columns
                        && self.referenced_table == other.referenced_table
                        && self.referenced_columns == other.referenced_columns
                }
                _ => self.columns == other.columns,
            }
    }

    fn same_actions(&self, other: &Constraint) -> bool {
        self.on_delete == other.on_delete && self.on_update == other.on_update
    }

    /// The boolean expression of a CHECK.
    fn check_expression(&self) -> &str {
        let definition = self.definition.trim_end_matches(" NOT VALID");
        definition.strip_prefix("CHECK ").unwrap_or(definition)
    }

    /// The definition to add in `schema` (foreign keys name their referenced table there).
    fn definition_in(&self, schema: &str) -> String {
        match self.kind.as_str() {
            "p" => format!("PRIMARY KEY ({})", idents(&self.columns)),
            "u" => format!("UNIQUE ({})", idents(&self.columns)),
            "f" => format!(
                "FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                idents(&self.columns),
                qualify(schema, self.referenced_table.as_deref().unwrap_or_default()),
                idents(&self.referenced_columns),
                action(&self.on_delete),
                action(&self.on_update)
            ),
            _ => self
                .clause
                .clone()
                .unwrap_or_else(|| self.definition.clone()),
        }
    }

    /// Counts the rows of `schema`'s table this constraint would reject.
    fn rejected_rows_sql(&self, schema: &str) -> String {
        let table = qualify(schema, &self.table);
        let all_set = all(&self.columns, |column| {
            format!("{} IS NOT NULL", ident(column))
        });
        match self.kind.as_str() {
            "c" => format!(
                "SELECT count(*) AS n FROM {table} WHERE NOT ({})",
                self.check_expression()
            ),
            "f" => {
                let pairs: Vec<_> = self.columns.iter().zip(&self.referenced_columns).collect();
                let matches = all(&pairs, |(column, referenced)| {
                    format!("parent.{} = child.{}", ident(referenced), ident(column))
                });
                let child_set = all(&self.columns, |column| {
                    format!("child.{} IS NOT NULL", ident(column))
                });
                format!(
                    "SELECT count(*) AS n FROM {table} AS child WHERE {child_set} AND NOT EXISTS \
                     (SELECT 1 FROM {} AS parent WHERE {matches})",
                    qualify(schema, self.referenced_table.as_deref().unwrap_or_default())
                )
            }
            "p" => format!(
                "SELECT ((SELECT count(*) FROM {table} WHERE NOT ({all_set})) + \
                 (SELECT COALESCE(sum(n), 0) FROM (SELECT count(*) AS n FROM {table} \
                  GROUP BY {cols} HAVING count(*) > 1) AS duplicates))::bigint AS n",
                cols = idents(&self.columns)
            ),
            _ => format!(
                "SELECT COALESCE(sum(n), 0)::bigint AS n FROM (SELECT count(*) AS n \
                 FROM {table} WHERE {all_set} GROUP BY {} HAVING count(*) > 1) AS duplicates",
                idents(&self.columns)
            ),
        }
    }

    /// Why a row breaks this constraint, for the refusal message.
    fn breach(&self) -> String {
        match self.kind.as_str() {
            "c" => self.definition.clone(),
            "f" => format!(
                "{} not in {} ({})",
                self.columns.join(", "),
                self.referenced_table.as_deref().unwrap_or_default(),
                self.referenced_columns.join(", ")
            ),
            "p" => format!("NULL or duplicate ({})", self.columns.join(", ")),
            _ => format!("duplicate ({})", self.columns.join(", ")),
        }
    }
}

impl Index {
    fn same_shape(&self, other: &Index) -> bool {
        self.table == other.table && self.unique == other.unique && self.shape == other.shape
    }
}

/// A count that must be zero before the plan may run.
struct Check {
    /// `table: constraint` or `table.column: rule`.
    subject: String,
    /// Why a counted row breaks the rule.
    breach: String,
    /// A query returning the count as `n`.
    sql: String,
    /// A problem whatever the count (a column type that cannot be converted).
    always_a_problem: bool,
}

impl Check {
    fn describe(&self, rows: i64) -> String {
        let plural = if rows == 1 { "" } else { "s" };
        if self.always_a_problem {
            let verb = if rows == 1 { "holds" } else { "hold" };
            format!("{} ({rows} row{plural} {verb} a value)", self.subject)
        } else {
            format!(
                "{} would reject {rows} row{plural} ({})",
                self.subject, self.breach
            )
        }
    }
}

/// The checks, then the statements, that bring the found catalog to the wanted one.
#[derive(Default)]
pub(crate) struct Plan {
    checks: Vec<Check>,
    statements: Vec<String>,
}

/// How a found column type becomes the reference's.
enum Conversion {
    /// `ALTER COLUMN .. TYPE to [USING ..]`.
    Cast {
        using: Option<String>,
    },
    /// A shorter `varchar`: the cast holds where no value is longer.
    Shorten {
        length: u32,
    },
    Impossible,
}

fn conversion(column: &str, from: &str, to: &str) -> Conversion {
    let column = ident(column);
    match (from, to) {
        // The service's naive timestamps hold UTC; `AT TIME ZONE 'UTC'` reads them so,
        // whatever the session's TimeZone.
        ("timestamp without time zone", "timestamp with time zone") => Conversion::Cast {
            using: Some(format!("{column} AT TIME ZONE 'UTC'")),
        },
        ("smallint", "integer" | "bigint")
        | ("integer", "bigint")
        | ("real", "double precision") => Conversion::Cast { using: None },
        ("jsonb", "json") => Conversion::Cast {
            using: Some(format!("{column}::json")),
        },
        _ => match (varchar_length(from), varchar_length(to)) {
            (Some(from), Some(Some(to))) if from.is_some_and(|from| from <= to) => {
                Conversion::Cast { using: None }
            }
            (Some(_), Some(Some(to))) => Conversion::Shorten { length: to },
            (Some(_), Some(None)) => Conversion::Cast { using: None },
            _ => Conversion::Impossible,
        },
    }
}

/// `Some(Some(n))` for `character varying(n)`, `Some(None)` for unbounded text types.
fn varchar_length(type_sql: &str) -> Option<Option<u32>> {
    match type_sql {
        "text" | "character varying" => Some(None),
        _ => type_sql
            .strip_prefix("character varying(")
            .and_then(|rest| rest.strip_suffix(')'))
            .and_then(|length| length.parse().ok())
            .map(Some),
    }
}

impl Plan {
    fn new(schema: &str, wanted: &Catalog, found: &Catalog) -> Self {
        let mut plan = Plan::default();
        let mut added_columns: Vec<(&str, &str)> = Vec::new();

        // Columns: one ALTER TABLE per table, so a table is rewritten at most once.
        let mut tables: Vec<&str> = wanted.columns.iter().map(|c| c.table.as_str()).collect();
        tables.dedup();
        let mut column_statements = Vec::new();
        for table in &tables {
            let mut actions = Vec::new();
            for want in wanted.columns.iter().filter(|c| c.table == *table) {
                let name = ident(&want.name);
                let Some(have) = found.column(table, &want.name) else {
                    // Added nullable: existing rows have no value to give it.
                    actions.push(format!("ADD COLUMN {name} {}", want.type_sql));
                    if let Some(default) = want.default.as_ref().filter(|d| !is_serial(d)) {
                        actions.push(format!("ALTER COLUMN {name} SET DEFAULT {default}"));
                    }
                    added_columns.push((table, want.name.as_str()));
                    continue;
                };
                let subject = format!("{table}.{}", want.name);
                let retyped = have.type_sql != want.type_sql;
                if retyped {
                    match conversion(&want.name, &have.type_sql, &want.type_sql) {
                        Conversion::Cast { using } => {
                            actions.push(alter_type(&name, &want.type_sql, using))
                        }
                        Conversion::Shorten { length } => {
                            plan.checks.push(Check {
                                subject: format!("{subject}: {}", want.type_sql),
                                breach: format!("longer than {length} characters"),
                                sql: format!(
                                    "SELECT count(*) AS n FROM {} WHERE length({name}) > {length}",
                                    qualify(schema, table)
                                ),
                                always_a_problem: false,
                            });
                            actions.push(alter_type(&name, &want.type_sql, None));
                        }
                        Conversion::Impossible => plan.checks.push(Check {
                            subject: format!(
                                "{subject}: {} cannot become {}",
                                have.type_sql, want.type_sql
                            ),
                            breach: String::new(),
                            sql: format!(
                                "SELECT count(*) AS n FROM {} WHERE {name} IS NOT NULL",
                                qualify(schema, table)
                            ),
                            always_a_problem: true,
                        }),
                    }
                }
                if want.not_null && !have.not_null {
                    plan.checks.push(Check {
                        subject: format!("{subject}: NOT NULL"),
                        breach: "NULL".to_owned(),
                        sql: format!(
                            "SELECT count(*) AS n FROM {} WHERE {name} IS NULL",
                            qualify(schema, table)
                        ),
                        always_a_problem: false,
                    });
                    actions.push(format!("ALTER COLUMN {name} SET NOT NULL"));
                } else if !want.not_null && have.not_null {
                    actions.push(format!("ALTER COLUMN {name} DROP NOT NULL"));
                }
                // Sequence defaults name each schema's own sequence; the found one stays.
                if want.default.as_deref().is_some_and(is_serial) {
                    continue;
                }
                match &want.default {
                    Some(default) if retyped || have.default.as_ref() != Some(default) => {
                        actions.push(format!("ALTER COLUMN {name} SET DEFAULT {default}"));
                    }
                    None if have.default.is_some() => {
                        actions.push(format!("ALTER COLUMN {name} DROP DEFAULT"));
                    }
                    _ => {}
                }
            }
            if !actions.is_empty() {
                column_statements.push(format!(
                    "ALTER TABLE {} {}",
                    qualify(schema, table),
                    actions.join(", ")
                ));
            }
        }

        // Constraints: keep, rename, or (re)add; foreign keys are dropped and added again
        // where their ON DELETE rule differs, PostgreSQL cannot alter it in place.
        let mut drops: Vec<&Constraint> = Vec::new();
        let mut renames = Vec::new();
        let mut adds: Vec<&Constraint> = Vec::new();
        let mut claimed: Vec<&Constraint> = Vec::new();
        for want in &wanted.constraints {
            let named = found.constraint_named(&want.table, &want.name);
            let existing = named.filter(|have| have.same_rule(want)).or_else(|| {
                found.constraints.iter().find(|have| {
                    have.same_rule(want)
                        && wanted.constraint_named(&have.table, &have.name).is_none()
                        && !claimed.iter().any(|c| std::ptr::eq(*c, *have))
                })
            });
            if let Some(have) =
                named.filter(|have| !existing.is_some_and(|e| std::ptr::eq(e, *have)))
            {
                drops.push(have);
            }
            match existing {
                Some(have) if have.same_actions(want) && have.validated => {
                    claimed.push(have);
                    if have.name != want.name {
                        renames.push(format!(
                            "ALTER TABLE {} RENAME CONSTRAINT {} TO {}",
                            qualify(schema, &want.table),
                            ident(&have.name),
                            ident(&want.name)
                        ));
                    }
                }
                Some(have) => {
                    claimed.push(have);
                    drops.push(have);
                    // A validated rule on the same columns vouches for the rows already.
                    if !have.validated {
                        plan.check_constraint(schema, want, &added_columns);
                    }
                    adds.push(want);
                }
                None => {
                    plan.check_constraint(schema, want, &added_columns);
                    adds.push(want);
                }
            }
        }
        // Foreign keys first: a key or unique constraint may be what one of them uses.
        drops.sort_by_key(|constraint| constraint.kind != "f");
        for constraint in drops {
            plan.statements.push(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                qualify(schema, &constraint.table),
                ident(&constraint.name)
            ));
        }

        // Indexes: keep, rename or create; one of another shape under a reference name goes.
        let mut index_drops = Vec::new();
        let mut index_renames = Vec::new();
        let mut index_creates = Vec::new();
        let mut claimed_indexes: Vec<&Index> = Vec::new();
        for want in &wanted.indexes {
            let named = found.index_named(&want.table, &want.name);
            if named.is_some_and(|have| have.same_shape(want)) {
                continue;
            }
            if let Some(have) = named {
                index_drops.push(format!("DROP INDEX {}", qualify(schema, &have.name)));
            }
            let candidate = found.indexes.iter().find(|have| {
                have.same_shape(want)
                    && wanted.index_named(&have.table, &have.name).is_none()
                    && !claimed_indexes.iter().any(|c| std::ptr::eq(*c, *have))
            });
            match candidate {
                Some(have) => {
                    claimed_indexes.push(have);
                    index_renames.push(format!(
                        "ALTER INDEX {} RENAME TO {}",
                        qualify(schema, &have.name),
                        ident(&want.name)
                    ));
                }
                None => index_creates.push(format!(
                    "CREATE {}INDEX {} ON {} {}",
                    if want.unique { "UNIQUE " } else { "" },
                    ident(&want.name),
                    qualify(schema, &want.table),
                    want.shape
                )),
            }
        }

        plan.statements.extend(index_drops);
        plan.statements.extend(column_statements);
        plan.statements.extend(renames);
        plan.statements.extend(index_renames);
        // Keys before the foreign keys that may point at them.
        adds.sort_by_key(|constraint| match constraint.kind.as_str() {
            "p" => 0,
            "u" => 1,
            "c" => 2,
            _ => 3,
        });
        for constraint in adds {
            plan.statements.push(format!(
                "ALTER TABLE {} ADD CONSTRAINT {} {}",
                qualify(schema, &constraint.table),
                ident(&constraint.name),
                constraint.definition_in(schema)
            ));
        }
        plan.statements.extend(index_creates);
        plan
    }

    /// Counts the rows `constraint` would reject, unless it reads a column this plan adds
    /// (all NULL: no CHECK, unique or foreign key rejects those).
    fn check_constraint(&mut self, schema: &str, constraint: &Constraint, added: &[(&str, &str)]) {
        let reads_added = constraint
            .columns
            .iter()
            .any(|column| added.contains(&(constraint.table.as_str(), column.as_str())));
        if reads_added && constraint.kind != "p" {
            return;
        }
        self.checks.push(Check {
            subject: format!("{}: {}", constraint.table, constraint.name),
            breach: constraint.breach(),
            sql: constraint.rejected_rows_sql(schema),
            always_a_problem: false,
        });
    }
}

/// The `ALTER TABLE` that turns `table.column`, of type `from`, into `to` keeping every
/// value, by the rules converging uses (a naive timestamp is read as UTC); `None` where a
/// cast alone cannot.
pub(crate) fn retype(table: &str, column: &str, from: &str, to: &str) -> Option<String> {
    match conversion(column, from, to) {
        Conversion::Cast { using } => Some(format!(
            "ALTER TABLE {} {}",
            ident(table),
            alter_type(&ident(column), to, using)
        )),
        Conversion::Shorten { .. } | Conversion::Impossible => None,
    }
}

fn alter_type(name: &str, type_sql: &str, using: Option<String>) -> String {
    match using {
        Some(using) => format!("ALTER COLUMN {name} TYPE {type_sql} USING {using}"),
        None => format!("ALTER COLUMN {name} TYPE {type_sql}"),
    }
}

fn is_serial(default: &str) -> bool {
    default.starts_with("nextval(")
}

fn action(code: &str) -> &'static str {
    match code {
        "r" => "RESTRICT",
        "c" => "CASCADE",
        "n" => "SET NULL",
        "d" => "SET DEFAULT",
        _ => "NO ACTION",
    }
}

/// A quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `condition` of every item, joined with `AND`.
fn all<T>(items: &[T], condition: impl Fn(&T) -> String) -> String {
    items
        .iter()
        .map(condition)
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn idents(names: &[String]) -> String {
    names
        .iter()
        .map(|name| ident(name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn qualify(schema: &str, name: &str) -> String {
    format!("{}.{}", ident(schema), ident(name))
}

/// A quoted string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Column `column` of the one row `sql` returns.
async fn scalar<T: TryGetable>(
    db: &impl ConnectionTrait,
    sql: &str,
    column: &str,
) -> Result<T, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?
        .ok_or_else(|| DbErr::Custom(format!("no row from {sql}")))?;
    row.try_get("", column)
}
