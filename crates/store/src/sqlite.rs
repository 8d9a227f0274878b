//! The embedded default backend: one SQLite file in WAL mode.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::changes::ChangeFile;
use crate::{Mode, Rollback, Store, StoreError, Table, Txn};

/// Numbered schema migrations; `PRAGMA user_version` records how many have run.
pub(crate) const MIGRATIONS: &[&str] = &["CREATE TABLE kv (
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
    /// The change signal shared with every process on this database (none when opened
    /// read-only for a check of an idle store).
    changes: Option<ChangeFile>,
    /// Tables whose writes do not count as changes (see [`Store::change_token`]).
    volatile: &'static [Table],
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
        let changes = ChangeFile::open_or_create(&changes_path(path))?;
        // Under the write lock: a writer that died between its commit and its end has left
        // the signal saying "in flight"; nothing can be in flight while we hold the lock.
        writer.execute_batch("BEGIN IMMEDIATE")?;
        let repaired = changes.repair();
        writer.execute_batch("COMMIT")?;
        repaired?;
        Ok(SqliteStore {
            path: path.to_path_buf(),
            how: Opening::Read,
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(writer),
            changes: Some(changes),
            volatile: &[],
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
            changes: None,
            volatile: &[],
        })
    }

    /// Writes a consistent copy of the database, as of one snapshot, to `target` (which must not
    /// exist), while other processes go on serving: SQLite's `VACUUM INTO`, on a read
    /// connection.
    pub fn backup_to(&self, target: &Path) -> Result<(), StoreError> {
        if target.exists() {
            return Err(StoreError::Backend(format!(
                "{} exists: a backup is written to a new file",
                target.display()
            )));
        }
        let conn = self.reader()?;
        let done = conn.execute("VACUUM INTO ?1", params![target.to_string_lossy()]);
        self.return_reader(conn);
        done?;
        Ok(())
    }

    /// Declares tables whose writes are not changes: nothing that is cached reads them (the
    /// caller must not cache them either), and writing them leaves the change token as it is.
    pub fn with_volatile_tables(mut self, tables: &'static [Table]) -> Self {
        self.volatile = tables;
        self
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

fn changes_path(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}-changes", db.display()))
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
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
    volatile: &'static [Table],
    /// Whether a table that is not volatile was written.
    changed: bool,
}

impl SqliteTxn<'_> {
    fn note_write(&mut self, table: Table) {
        if !self.volatile.contains(&table) {
            self.changed = true;
        }
    }
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
    fn scan_all(
        &mut self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<crate::Row>, StoreError> {
        let (table, key) = after.unwrap_or(("", ""));
        let first = after.is_none();
        let mut stmt = self.conn.prepare_cached(
            "SELECT tbl, key, value FROM kv WHERE ?1 OR (tbl, key) > (?2, ?3)
             ORDER BY tbl, key LIMIT ?4",
        )?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![first, table, key, limit], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT value FROM kv WHERE tbl = ?1 AND key = ?2")?;
        Ok(stmt
            .query_row(params![table, key], |row| row.get(0))
            .optional()?)
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.note_write(table);
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO kv (tbl, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value")?;
        stmt.execute(params![table, key, value])?;
        Ok(())
    }

    fn insert(&mut self, table: Table, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        self.note_write(table);
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO kv (tbl, key, value) VALUES (?1, ?2, ?3) ON CONFLICT (tbl, key) DO NOTHING")?;
        Ok(stmt.execute(params![table, key, value])? == 1)
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        self.note_write(table);
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
    volatile: &'static [Table],
    changes: Option<&ChangeFile>,
    body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(behavior)?;
    let mut txn = SqliteTxn {
        conn: &tx,
        volatile,
        changed: false,
    };
    let outcome = body(&mut txn);
    match outcome {
        Ok(()) => match changes.filter(|_| txn.changed) {
            Some(changes) => {
                // Announced before the commit, ended after it (see `changes`).
                let begun = changes.begin()?;
                let committed = tx.commit();
                // Should this fail, the token stays absent and nothing is cached: safe.
                let _ = changes.end(begun);
                committed?;
            }
            None => tx.commit()?,
        },
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
                run_in(
                    &mut conn,
                    TransactionBehavior::Immediate,
                    self.volatile,
                    self.changes.as_ref(),
                    body,
                )
            }
            Mode::Read => {
                let mut conn = self.reader()?;
                let result = run_in(
                    &mut conn,
                    TransactionBehavior::Deferred,
                    self.volatile,
                    None,
                    body,
                );
                if result.is_ok() {
                    self.return_reader(conn);
                }
                result
            }
        }
    }

    fn change_token(&self) -> Option<u64> {
        self.changes.as_ref().and_then(ChangeFile::token)
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

    /// A backend that counts the transactions it runs.
    struct Counting(SqliteStore, std::sync::atomic::AtomicUsize);

    impl Counting {
        fn new(store: SqliteStore) -> Self {
            Counting(store, std::sync::atomic::AtomicUsize::new(0))
        }
        fn transactions(&self) -> usize {
            self.1.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    impl Store for Counting {
        fn transact(
            &self,
            mode: Mode,
            body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
        ) -> Result<(), StoreError> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.transact(mode, body)
        }
        fn change_token(&self) -> Option<u64> {
            self.0.change_token()
        }
        fn check_integrity(&self) -> Result<(), StoreError> {
            self.0.check_integrity()
        }
    }

    #[test]
    fn passes_the_conformance_suite_behind_the_cache() {
        let (dir, store) = temp_store();
        crate::conformance::run_all(&crate::CachedStore::new(store, &[]));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_commit_through_another_store_on_the_file_empties_the_cache_at_once() {
        let (dir, first) = temp_store();
        let second = SqliteStore::open(&dir.join("test.db"))
            .unwrap()
            .with_volatile_tables(&["volatile"]);
        let cached = crate::CachedStore::new(Counting::new(first), &["volatile"]);
        crate::write(&cached, |t| t.put("users", "bob", b"1")).unwrap();
        assert_eq!(
            crate::read(&cached, |t| t.get("users", "bob")).unwrap(),
            Some(b"1".to_vec())
        );
        let token = cached.change_token().unwrap();
        let opened = cached.inner().transactions();
        for _ in 0..3 {
            assert_eq!(
                crate::read(&cached, |t| t.get("users", "bob")).unwrap(),
                Some(b"1".to_vec())
            );
        }
        assert_eq!(
            cached.inner().transactions(),
            opened,
            "served from the cache: no backend transaction"
        );
        // Another process (here: another connection set) changes the row.
        crate::write(&second, |t| t.put("users", "bob", b"2")).unwrap();
        assert_ne!(cached.change_token(), Some(token));
        assert_eq!(
            crate::read(&cached, |t| t.get("users", "bob")).unwrap(),
            Some(b"2".to_vec()),
            "the very next read sees the other process's commit"
        );
        // Writes to a volatile table are not changes, and volatile rows are never cached.
        let token = cached.change_token().unwrap();
        crate::write(&second, |t| t.put("volatile", "k", b"a")).unwrap();
        assert_eq!(cached.change_token(), Some(token));
        assert_eq!(
            crate::read(&cached, |t| t.get("volatile", "k")).unwrap(),
            Some(b"a".to_vec())
        );
        crate::write(&second, |t| t.put("volatile", "k", b"b")).unwrap();
        assert_eq!(
            crate::read(&cached, |t| t.get("volatile", "k")).unwrap(),
            Some(b"b".to_vec())
        );
        drop((cached, second));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn read_transactions_name_the_state_they_read() {
        let (dir, first) = temp_store();
        let second = SqliteStore::open(&dir.join("test.db")).unwrap();
        let cached = crate::CachedStore::new(first, &[]);
        crate::write(&cached, |t| t.put("users", "bob", b"1")).unwrap();
        let snapshot =
            || crate::read(&cached, |t| Ok::<_, StoreError>(t.snapshot_token())).unwrap();
        let before = snapshot();
        assert!(before.is_some());
        assert_eq!(snapshot(), before, "nothing changed: the same state");
        crate::write(&second, |t| t.put("users", "bob", b"2")).unwrap();
        assert_ne!(snapshot(), before, "a commit anywhere names a new state");
        // Write transactions go to the backend, which names no state.
        assert_eq!(
            crate::write(&cached, |t| Ok::<_, StoreError>(t.snapshot_token())).unwrap(),
            None
        );
        drop((cached, second));
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
