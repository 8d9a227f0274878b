//! The rule every schema migration of both backends keeps: additive only. During a rolling
//! upgrade nodes of the previous release serve from the schema this release migrated, so a
//! migration may add (tables, indexes, nullable or defaulted columns, rows) but never drop,
//! rename, retype or rewrite what the previous release reads. The tests below hold both
//! backends' migration lists to it; a change of layout that cannot be additive needs a
//! release that stops every node (see the layout number in `gatehouse-core`).

/// Why a migration is not additive, or `Ok`.
pub(crate) fn check_additive(sql: &str) -> Result<(), String> {
    for statement in sql.split(';') {
        let words: Vec<String> = statement
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect();
        let text = words.join(" ");
        let allowed = match words
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [] => true,
            ["CREATE", "TABLE", ..] => !words.iter().any(|w| w == "AS"),
            ["CREATE", "INDEX", ..] | ["CREATE", "UNIQUE", "INDEX", ..] => true,
            ["INSERT", "INTO", ..] => true,
            ["ALTER", "TABLE", _, "ADD", "COLUMN", ..] | ["ALTER", "TABLE", _, "ADD", ..] => {
                // A NOT NULL column without a default would refuse the previous release's
                // inserts, which do not know it.
                !text.contains("NOT NULL") || text.contains("DEFAULT")
            }
            _ => false,
        };
        if !allowed {
            return Err(format!("not an additive migration: {}", statement.trim()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_of_both_backends_is_additive() {
        for sql in crate::sqlite::MIGRATIONS
            .iter()
            .chain(crate::postgres::MIGRATIONS)
        {
            check_additive(sql).unwrap();
        }
    }

    #[test]
    fn anything_but_additions_is_rejected() {
        for sql in [
            "DROP TABLE kv",
            "ALTER TABLE kv RENAME TO kv2",
            "ALTER TABLE kv RENAME COLUMN value TO v",
            "ALTER TABLE kv DROP COLUMN value",
            "ALTER TABLE kv ALTER COLUMN value TYPE TEXT",
            "ALTER TABLE kv ADD COLUMN owner TEXT NOT NULL",
            "UPDATE kv SET value = ''",
            "DELETE FROM kv",
            "TRUNCATE kv",
            "CREATE TABLE kv2 AS SELECT * FROM kv",
            "DROP INDEX kv_by_value",
            "CREATE TABLE t (a INT); DROP TABLE kv;",
        ] {
            assert!(check_additive(sql).is_err(), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (a INT NOT NULL)",
            "CREATE INDEX t_a ON t (a)",
            "ALTER TABLE kv ADD COLUMN owner TEXT",
            "ALTER TABLE kv ADD COLUMN n BIGINT NOT NULL DEFAULT 0",
            "INSERT INTO t (a) VALUES (1);",
        ] {
            assert!(check_additive(sql).is_ok(), "{sql}");
        }
    }
}
