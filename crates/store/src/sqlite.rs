//! The embedded default backend: one SQLite file in WAL mode.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::{Mode, Rollback, Store, StoreError, Table, Txn};

/// Numbered schema migrations; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &["CREATE TABLE kv (
        tbl   TEXT NOT NULL,
        key   TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (tbl, key)
    ) WITHOUT ROWID;"];

/// Idle read connections kept for reuse.
const MAX_IDLE_READERS: usize = 16;

pub struct SqliteStore {
    path: PathBuf,
    how: Opening,
    // Readers are declared (and so dropped) before the writer: the last connection to close
    // checkpoints and removes the WAL, which only a writable one can.
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Connection>,
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and runs pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let writer = open_connection(path, Opening::Write)?;
        writer.pragma_update(None, "journal_mode", "WAL")?;
        migrate(&writer)?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            how: Opening::Read,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
        })
    }

    /// Opens an existing database for reading only (for checks): nothing is created,
    /// migrated or written, and a write transaction fails.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        // A WAL file means a process has the store open (or died with it open): read through
        // it. Without one, nothing has the store open, and reading it as an immutable file
        // leaves every byte of the data directory as it was.
        let wal = PathBuf::from(format!("{}-wal", path.display()));
        let how = if wal.exists() {
            Opening::Read
        } else {
            Opening::ReadIdle
        };
        let conn = open_connection(path, how)?;
        let done: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if usize::try_from(done).ok() != Some(MIGRATIONS.len()) {
            return Err(StoreError::Backend(format!(
                "the database has schema version {done}, this Gatehouse expects {}: start \
                 `gatehouse serve` once to migrate it",
                MIGRATIONS.len()
            )));
        }
        Ok(SqliteStore {
            path: path.to_path_buf(),
            how,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(conn),
        })
    }

    fn reader(&self) -> Result<Connection, StoreError> {
        let idle = self.readers.lock().map_err(|_| poisoned())?.pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_connection(&self.path, self.how),
        }
    }

    fn return_reader(&self, conn: Connection) {
        if let Ok(mut idle) = self.readers.lock()
            && idle.len() < MAX_IDLE_READERS
        {
            idle.push(conn);
        }
    }
}

/// How a connection opens the database file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opening {
    /// The serving writer: creates the file if needed.
    Write,
    /// Readers of a serving store.
    Read,
    /// A check of a store no process has open (no WAL file): read as an immutable file, so
    /// not even SQLite's shared-memory index is created or touched.
    ReadIdle,
}

fn poisoned() -> StoreError {
    StoreError::Backend("a store lock was poisoned by an earlier panic".into())
}

/// `file:` URI of a path, with the characters URIs reserve percent-encoded.
fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file:");
    for b in path.to_string_lossy().bytes() {
        match b {
            b'%' | b'?' | b'#' => uri.push_str(&format!("%{b:02X}")),
            _ => uri.push(char::from(b)),
        }
    }
    uri
}

fn open_connection(path: &Path, how: Opening) -> Result<Connection, StoreError> {
    let conn = match how {
        Opening::Write => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
        Opening::Read => Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
        Opening::ReadIdle => Connection::open_with_flags(
            format!("{}?mode=ro&immutable=1", file_uri(path)),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?,
    };
    conn.busy_timeout(Duration::from_secs(10))?;
    if how == Opening::Write {
        // FULL: a commit is on disk before it returns, so an answered write survives a crash
        // or power loss, not only a process kill.
        conn.pragma_update(None, "synchronous", "FULL")?;
    }
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let done = usize::try_from(done).unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(StoreError::Backend(format!(
            "the database has schema version {done}, newer than this Gatehouse knows ({})",
            MIGRATIONS.len()
        )));
    }
    for (number, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(
            None,
            "user_version",
            i64::try_from(number + 1).unwrap_or(i64::MAX),
        )?;
        tx.commit()?;
    }
    Ok(())
}

struct SqliteTxn<'c> {
    conn: &'c Connection,
}

/// The smallest string greater than every string that starts with `prefix`, if any.
/// Keys compare byte-wise (BINARY collation), and U+10FFFF encodes as the largest
/// UTF-8 sequence, so appending it bounds the prefix range.
fn prefix_end(prefix: &str) -> Option<String> {
    if prefix.is_empty() {
        None
    } else {
        Some(format!("{prefix}\u{10FFFF}"))
    }
}

impl Txn for SqliteTxn<'_> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM kv WHERE tbl = ?1 AND key = ?2")?;
        Ok(stmt
            .query_row(params![table, key], |row| row.get(0))
            .optional()?)
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO kv (tbl, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value")?;
        stmt.execute(params![table, key, value])?;
        Ok(())
    }

    fn insert(&mut self, table: Table, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO kv (tbl, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tbl, key) DO NOTHING")?;
        Ok(stmt.execute(params![table, key, value])? == 1)
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("DELETE FROM kv WHERE tbl = ?1 AND key = ?2")?;
        Ok(stmt.execute(params![table, key])? == 1)
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let end = prefix_end(prefix);
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value FROM kv WHERE tbl = ?1 AND key >= ?2 AND (?3 IS NULL OR key > ?3)
             AND (?4 IS NULL OR key < ?4) ORDER BY key LIMIT ?5",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![table, prefix, start_after, end, limit], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn count(&mut self, table: Table, prefix: &str) -> Result<u64, StoreError> {
        let end = prefix_end(prefix);
        let mut stmt = self.conn.prepare_cached(
            "SELECT count(*) FROM kv WHERE tbl = ?1 AND key >= ?2 AND (?3 IS NULL OR key < ?3)",
        )?;
        let n: i64 = stmt.query_row(params![table, prefix, end], |row| row.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

fn run_in(
    conn: &mut Connection,
    behavior: TransactionBehavior,
    body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(behavior)?;
    let outcome = body(&mut SqliteTxn { conn: &tx });
    match outcome {
        Ok(()) => tx.commit()?,
        Err(Rollback) => tx.rollback()?,
    }
    Ok(())
}

impl Store for SqliteStore {
    fn transact(
        &self,
        mode: Mode,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError> {
        match mode {
            Mode::Write => {
                let mut conn = self.writer.lock().map_err(|_| poisoned())?;
                // IMMEDIATE takes the write lock up front, so two connections can't deadlock
                // upgrading from read to write.
                run_in(&mut conn, TransactionBehavior::Immediate, body)
            }
            Mode::Read => {
                let mut conn = self.reader()?;
                let result = run_in(&mut conn, TransactionBehavior::Deferred, body);
                if result.is_ok() {
                    self.return_reader(conn);
                }
                result
            }
        }
    }

    fn check_integrity(&self) -> Result<(), StoreError> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let findings: Vec<String> = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        drop(stmt);
        self.return_reader(conn);
        if findings == ["ok"] {
            Ok(())
        } else {
            Err(StoreError::Corrupt(findings.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_store() -> (PathBuf, SqliteStore) {
        let dir = std::env::temp_dir().join(format!(
            "gatehouse-store-test-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("test.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn passes_the_conformance_suite() {
        let (dir, store) = temp_store();
        crate::conformance::run_all(&store);
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn state_survives_reopening_and_migrations_run_once() {
        let (dir, store) = temp_store();
        crate::write(&store, |t| t.put("users", "bob", b"1")).unwrap();
        drop(store);
        let store = SqliteStore::open(&dir.join("test.db")).unwrap();
        assert_eq!(
            crate::read(&store, |t| t.get("users", "bob")).unwrap(),
            Some(b"1".to_vec())
        );
        store.check_integrity().unwrap();
        drop(store);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn prefix_end_bounds_the_range() {
        assert_eq!(prefix_end(""), None);
        let end = prefix_end("ab").unwrap();
        assert!("ab" < end.as_str() && "ab\u{10FFFE}" < end.as_str() && end.as_str() < "ac");
    }
}
