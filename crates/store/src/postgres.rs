//! The shared backend: PostgreSQL (14 or newer), for many `gatehouse serve` nodes on one
//! database.
//!
//! - Rows live in one table, `gatehouse_kv (tbl, key, value)`, keys compared byte-wise
//!   (`COLLATE "C"`), as in SQLite.
//! - Write transactions run `SERIALIZABLE`: the conformance suite's races (one winner per name,
//!   counted quotas, a parent deleted while a child is inserted) hold because PostgreSQL aborts
//!   one side of every dangerous interleaving with a serialization failure, and the body is
//!   then run again from the start (at most [`MAX_ATTEMPTS`] times). Read transactions run
//!   `REPEATABLE READ READ ONLY`: one snapshot.
//! - The change token is one row, `gatehouse_changes`, incremented inside every write
//!   transaction that changes a non-volatile table, so it commits atomically with the change:
//!   reading it is one round trip, and a node never sees a change without its token.
//! - Migrations are numbered and run under an advisory lock: one node migrates, the others
//!   wait for it, and every one checks the schema version before serving.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use postgres::config::SslMode;
use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls, Statement, Transaction};

use crate::postgres_tls::{RustlsConnector, tls_options};
use crate::{Mode, Rollback, Store, StoreError, Table, Txn};

/// Numbered schema migrations; `gatehouse_schema.version` records how many have run. Only
/// additive changes belong here: nodes of the previous release keep serving during an upgrade.
pub(crate) const MIGRATIONS: &[&str] = &["CREATE TABLE gatehouse_kv (
        tbl   TEXT COLLATE \"C\" NOT NULL,
        key   TEXT COLLATE \"C\" NOT NULL,
        value BYTEA NOT NULL,
        PRIMARY KEY (tbl, key)
    );
    CREATE TABLE gatehouse_changes (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        token BIGINT NOT NULL
    );
    INSERT INTO gatehouse_changes (id, token) VALUES (1, 1);"];

/// Moves the change token, in every transaction that changes something.
const NEXT_TOKEN: &str = "UPDATE gatehouse_changes SET token = token + 1";
/// Reads the change token: the one statement a fully cached request costs.
const READ_TOKEN: &str = "SELECT token FROM gatehouse_changes WHERE id = 1";

/// Any number that no other program's advisory lock on the same database is likely to use.
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

/// How many times a body meeting serialization failures is run in all.
pub const MAX_ATTEMPTS: usize = 50;

/// Idle connections kept for reuse.
const MAX_IDLE_CONNECTIONS: usize = 16;

pub struct PostgresStore {
    endpoint: Endpoint,
    idle: Mutex<Vec<Connection>>,
    volatile: &'static [Table],
}

/// A connection and the statements prepared on it: each statement is parsed and planned once
/// per connection, so running one is a single round trip (an unprepared one is two).
struct Connection {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Connection {
    fn new(client: Client) -> Self {
        Connection {
            client,
            prepared: HashMap::new(),
        }
    }

    /// `sql` prepared on this connection, outside any transaction.
    fn statement(&mut self, sql: &'static str) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(sql)?;
        self.prepared.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        // No SQL state: the connection failed or broke, not the statement. Classes 08
        // (connection exception) and 57 (operator intervention: a shutdown, a restart) say the
        // same from the server's side.
        let connection = e
            .code()
            .is_none_or(|c| c.code().starts_with("08") || c.code().starts_with("57"));
        if connection || e.is_closed() {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Backend(e.to_string())
        }
    }
}

/// Where and how to connect: the parsed URL and its TLS connector, built once per store (the
/// root certificates are read at start-up, not per connection).
struct Endpoint {
    config: postgres::Config,
    tls: RustlsConnector,
}

impl Endpoint {
    fn new(url: &str) -> Result<Self, StoreError> {
        let options = tls_options(url)?;
        let mut config: postgres::Config = options
            .driver_url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        config.connect_timeout(Duration::from_secs(10));
        Ok(Endpoint {
            config,
            tls: RustlsConnector::new(&options)?,
        })
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        Ok(Connection::new(match self.config.get_ssl_mode() {
            SslMode::Disable => self.config.connect(NoTls)?,
            _ => self.config.connect(self.tls.clone())?,
        }))
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`) and runs
    /// pending migrations (or waits for another node running them).
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let endpoint = Endpoint::new(url)?;
        let mut client = endpoint.connect()?;
        migrate(&mut client.client)?;
        Ok(PostgresStore {
            endpoint,
            idle: Mutex::new(vec![client]),
            volatile: &[],
        })
    }

    /// Connects to an existing Gatehouse database without migrating or writing anything (for
    /// `gatehouse store check`); refuses one whose schema is not this build's.
    pub fn open_existing(url: &str) -> Result<Self, StoreError> {
        let endpoint = Endpoint::new(url)?;
        let client = endpoint.connect()?;
        let store = PostgresStore {
            endpoint,
            idle: Mutex::new(vec![client]),
            volatile: &[],
        };
        store.check_integrity()?;
        Ok(store)
    }

    /// Declares tables whose writes are not changes (see [`Store::change_token`]).
    pub fn with_volatile_tables(mut self, tables: &'static [Table]) -> Self {
        self.volatile = tables;
        self
    }

    fn client(&self) -> Result<Connection, StoreError> {
        let idle = self
            .idle
            .lock()
            .map_err(|_| StoreError::Backend("a store lock was poisoned".into()))?
            .pop();
        match idle {
            Some(connection) if !connection.client.is_closed() => Ok(connection),
            _ => self.endpoint.connect(),
        }
    }

    fn give_back(&self, client: Connection) {
        if client.client.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_IDLE_CONNECTIONS
        {
            idle.push(client);
        }
    }
}

impl Drop for PostgresStore {
    /// Closing a connection blocks on its own runtime, which an async runtime's thread may not
    /// do (the server drops its store inside one): the connections close on a thread of their
    /// own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|e| e.into_inner()));
        if !idle.is_empty() {
            let _ = std::thread::spawn(move || drop(idle)).join();
        }
    }
}

fn migrate(client: &mut Client) -> Result<(), StoreError> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])?;
    let outcome = (|| -> Result<(), StoreError> {
        client.batch_execute(
            "CREATE TABLE IF NOT EXISTS gatehouse_schema (version INTEGER NOT NULL);
             INSERT INTO gatehouse_schema (version)
                 SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM gatehouse_schema);",
        )?;
        let done: i32 = client
            .query_one("SELECT version FROM gatehouse_schema", &[])?
            .get(0);
        let done = usize::try_from(done).unwrap_or(0);
        if done > MIGRATIONS.len() {
            return Err(StoreError::Backend(format!(
                "the database has schema version {done}, newer than this Gatehouse knows ({})",
                MIGRATIONS.len()
            )));
        }
        for (number, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            let mut tx = client.transaction()?;
            tx.batch_execute(sql)?;
            let version = i32::try_from(number + 1).unwrap_or(i32::MAX);
            tx.execute("UPDATE gatehouse_schema SET version = $1", &[&version])?;
            tx.commit()?;
        }
        Ok(())
    })();
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])?;
    outcome
}

/// Whether PostgreSQL aborted the transaction to keep it serializable (run it again).
fn is_conflict(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

struct PgTxn<'t, 'c> {
    tx: &'t mut Transaction<'c>,
    /// The connection's prepared statements (prepared inside a transaction, a statement
    /// outlives it).
    prepared: &'t mut HashMap<&'static str, Statement>,
    volatile: &'static [Table],
    /// Whether a table that is not volatile was written.
    changed: bool,
    /// Whether a statement failed with a serialization conflict.
    conflict: bool,
}

impl PgTxn<'_, '_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.prepared.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self.tx.prepare(sql);
        let statement = self.check(statement)?;
        self.prepared.insert(sql, statement.clone());
        Ok(statement)
    }

    fn check<T>(&mut self, result: Result<T, postgres::Error>) -> Result<T, StoreError> {
        result.map_err(|e| {
            if is_conflict(&e) {
                self.conflict = true;
            }
            StoreError::from(e)
        })
    }

    fn note_write(&mut self, table: Table) {
        if !self.volatile.contains(&table) {
            self.changed = true;
        }
    }
}

/// The smallest string greater than every string that starts with `prefix` (byte order).
fn prefix_end(prefix: &str) -> Option<String> {
    (!prefix.is_empty()).then(|| format!("{prefix}\u{10FFFF}"))
}

impl Txn for PgTxn<'_, '_> {
    fn scan_all(
        &mut self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<crate::Row>, StoreError> {
        let (table, key) = after.unwrap_or(("", ""));
        let first = after.is_none();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = self.statement(
            "SELECT tbl, key, value FROM gatehouse_kv WHERE $1 OR (tbl, key) > ($2, $3)
             ORDER BY tbl, key LIMIT $4",
        )?;
        let rows = self.tx.query(&statement, &[&first, &table, &key, &limit]);
        Ok(self
            .check(rows)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let statement =
            self.statement("SELECT value FROM gatehouse_kv WHERE tbl = $1 AND key = $2")?;
        let row = self.tx.query_opt(&statement, &[&table, &key]);
        Ok(self.check(row)?.map(|r| r.get(0)))
    }

    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.note_write(table);
        let statement = self.statement(
            "INSERT INTO gatehouse_kv (tbl, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
        )?;
        let done = self.tx.execute(&statement, &[&table, &key, &value]);
        self.check(done).map(|_| ())
    }

    fn insert(&mut self, table: Table, key: &str, value: &[u8]) -> Result<bool, StoreError> {
        self.note_write(table);
        let statement = self.statement(
            "INSERT INTO gatehouse_kv (tbl, key, value) VALUES ($1, $2, $3)
             ON CONFLICT (tbl, key) DO NOTHING",
        )?;
        let done = self.tx.execute(&statement, &[&table, &key, &value]);
        Ok(self.check(done)? == 1)
    }

    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError> {
        self.note_write(table);
        let statement = self.statement("DELETE FROM gatehouse_kv WHERE tbl = $1 AND key = $2")?;
        let done = self.tx.execute(&statement, &[&table, &key]);
        Ok(self.check(done)? == 1)
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let end = prefix_end(prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let statement = self.statement(
            "SELECT key, value FROM gatehouse_kv WHERE tbl = $1 AND key >= $2
             AND ($3::TEXT IS NULL OR key > $3) AND ($4::TEXT IS NULL OR key < $4)
             ORDER BY key LIMIT $5",
        )?;
        let rows = self
            .tx
            .query(&statement, &[&table, &prefix, &start_after, &end, &limit]);
        Ok(self
            .check(rows)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn count(&mut self, table: Table, prefix: &str) -> Result<u64, StoreError> {
        let end = prefix_end(prefix);
        let statement = self.statement(
            "SELECT count(*) FROM gatehouse_kv WHERE tbl = $1 AND key >= $2
             AND ($3::TEXT IS NULL OR key < $3)",
        )?;
        let row = self.tx.query_one(&statement, &[&table, &prefix, &end]);
        let n: i64 = self.check(row)?.get(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// How one attempt of a body ended.
enum Attempt {
    /// Committed, or rolled back as the body asked.
    Done,
    /// A serialization conflict: run the body again.
    Conflict,
    /// The transaction could not even begin (a pooled connection broken by a database
    /// restart): nothing ran, so running it again on a new connection is safe.
    NotBegun(StoreError),
}

fn attempt(
    connection: &mut Connection,
    mode: Mode,
    volatile: &'static [Table],
    body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
) -> Result<Attempt, StoreError> {
    let mut builder = connection.client.build_transaction();
    builder = match mode {
        Mode::Write => builder.isolation_level(IsolationLevel::Serializable),
        Mode::Read => builder
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true),
    };
    let mut tx = match builder.start() {
        Ok(tx) => tx,
        Err(e) if is_conflict(&e) => return Ok(Attempt::Conflict),
        Err(e) => return Ok(Attempt::NotBegun(e.into())),
    };
    let mut txn = PgTxn {
        tx: &mut tx,
        prepared: &mut connection.prepared,
        volatile,
        changed: false,
        conflict: false,
    };
    let outcome = body(&mut txn);
    let (changed, conflict) = (txn.changed, txn.conflict);
    if conflict {
        // The body saw the failure as an error; whatever it decided, run it again.
        let _ = tx.rollback();
        return Ok(Attempt::Conflict);
    }
    match outcome {
        Err(Rollback) => {
            tx.rollback()?;
            Ok(Attempt::Done)
        }
        Ok(()) => {
            if changed {
                // In the same transaction as the change: the token and the change commit
                // together, so no node can see one without the other.
                let moved = txn.statement(NEXT_TOKEN).and_then(|statement| {
                    let done = txn.tx.execute(&statement, &[]);
                    txn.check(done)
                });
                if let Err(e) = moved {
                    return if txn.conflict {
                        Ok(Attempt::Conflict)
                    } else {
                        Err(e)
                    };
                }
            }
            // A connection lost here leaves the outcome unknown (PostgreSQL may have
            // committed): the caller gets 503 and decides, nothing is run twice behind it.
            match tx.commit() {
                Ok(()) => Ok(Attempt::Done),
                Err(e) if is_conflict(&e) => Ok(Attempt::Conflict),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// A random wait before running a conflicting body again, growing with the conflicts met (up
/// to 32 ms): writers that collided do not collide again in lockstep, so none starves.
fn conflict_backoff(conflicts: usize) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let ceiling_micros = 250u64 << conflicts.min(7);
    // A fresh `RandomState` is randomly keyed: jitter without a random-number crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_micros(random % ceiling_micros)
}

impl Store for PostgresStore {
    fn transact(
        &self,
        mode: Mode,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let mut reconnected = false;
        let mut conflicts = 0;
        loop {
            match attempt(&mut client, mode, self.volatile, body) {
                Ok(Attempt::Done) => {
                    self.give_back(client);
                    return Ok(());
                }
                Ok(Attempt::Conflict) => {
                    conflicts += 1;
                    if conflicts >= MAX_ATTEMPTS {
                        self.give_back(client);
                        return Err(StoreError::Backend(format!(
                            "a transaction met {MAX_ATTEMPTS} serialization conflicts in a row"
                        )));
                    }
                    std::thread::sleep(conflict_backoff(conflicts));
                }
                // A pooled connection broken by a database restart: every idle one is, so
                // they all go, and the body runs on a new connection.
                Ok(Attempt::NotBegun(_)) if !reconnected => {
                    reconnected = true;
                    if let Ok(mut idle) = self.idle.lock() {
                        let stale = std::mem::take(&mut *idle);
                        drop(idle);
                        let _ = std::thread::spawn(move || drop(stale)).join();
                    }
                    client = self.endpoint.connect()?;
                }
                Ok(Attempt::NotBegun(e)) | Err(e) => {
                    // A broken connection is not given back; a healthy one is.
                    self.give_back(client);
                    return Err(e);
                }
            }
        }
    }

    fn change_token(&self) -> Option<u64> {
        let mut connection = self.client().ok()?;
        let token = connection
            .statement(READ_TOKEN)
            .and_then(|statement| connection.client.query_one(&statement, &[]))
            .ok()
            .and_then(|row| u64::try_from(row.get::<_, i64>(0)).ok());
        self.give_back(connection);
        token
    }

    fn check_integrity(&self) -> Result<(), StoreError> {
        let mut client = self.client()?;
        let version: i32 = client
            .client
            .query_one("SELECT version FROM gatehouse_schema", &[])?
            .get(0);
        self.give_back(client);
        if usize::try_from(version).ok() != Some(MIGRATIONS.len()) {
            return Err(StoreError::Corrupt(format!(
                "schema version {version}, expected {}",
                MIGRATIONS.len()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Run against a real PostgreSQL when `GATEHOUSE_TEST_POSTGRES_URL` names a database the
    //! tests may empty (`scripts/test` starts a throw-away cluster and sets it).
    use super::*;

    fn test_url() -> Option<String> {
        std::env::var("GATEHOUSE_TEST_POSTGRES_URL").ok()
    }

    /// A fresh, empty database on the test cluster.
    fn fresh(name: &str) -> Option<String> {
        let url = test_url()?;
        let mut admin = Endpoint::new(&url).unwrap().connect().unwrap().client;
        // Two statements: a multi-statement batch is one transaction, which these refuse.
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .unwrap();
        let base = url.rsplit_once('/').map_or(url.as_str(), |(base, _)| base);
        Some(format!("{base}/{name}"))
    }

    #[test]
    fn passes_the_conformance_suite() {
        let Some(url) = fresh("gatehouse_conformance") else {
            eprintln!("GATEHOUSE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped");
            return;
        };
        let store = PostgresStore::open(&url).unwrap();
        crate::conformance::run_all(&store);
        store.check_integrity().unwrap();
    }

    #[test]
    fn passes_the_conformance_suite_behind_the_cache() {
        let Some(url) = fresh("gatehouse_conformance_cached") else {
            return;
        };
        let store = PostgresStore::open(&url).unwrap();
        crate::conformance::run_all(&crate::CachedStore::new(store, &[]));
    }

    /// Whether the session `client` runs on is encrypted, as the server sees it.
    fn encrypted(connection: &mut Connection) -> bool {
        connection
            .client
            .query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .unwrap()
            .get(0)
    }

    #[test]
    fn tls_modes_encrypt_and_verify_as_libpq_does() {
        // The test cluster's certificate names localhost and 127.0.0.1, not 127.0.0.2.
        let (Some(url), Ok(dir)) = (test_url(), std::env::var("GATEHOUSE_TEST_PG_DIR")) else {
            return;
        };
        let ca = format!("{dir}/ca.pem");
        let connect = |url: &str| Endpoint::new(url).and_then(|e| e.connect());
        for (mode, host) in [
            ("require", "127.0.0.1"),
            ("verify-ca", "127.0.0.2"),
            ("verify-full", "127.0.0.1"),
            ("verify-full", "localhost"),
        ] {
            let url = url.replace("127.0.0.1", host);
            let mut client = connect(&format!("{url}?sslmode={mode}&sslrootcert={ca}")).unwrap();
            assert!(encrypted(&mut client), "{mode} to {host}");
        }
        let mut plain = connect(&format!("{url}?sslmode=disable")).unwrap();
        assert!(!encrypted(&mut plain));
        // The name is checked by verify-full only, and the chain by every verify mode.
        let wrong_name = url.replace("127.0.0.1", "127.0.0.2");
        let err = connect(&format!(
            "{wrong_name}?sslmode=verify-full&sslrootcert={ca}"
        ));
        assert!(
            matches!(err, Err(StoreError::Unavailable(_))),
            "{:?}",
            err.err()
        );
        let foreign_root = format!("{dir}/server.pem");
        for mode in ["verify-ca", "verify-full", "require"] {
            let err = connect(&format!("{url}?sslmode={mode}&sslrootcert={foreign_root}"));
            assert!(err.is_err(), "{mode} trusted a certificate it cannot chain");
        }
    }

    #[test]
    fn passes_the_conformance_suite_over_verified_tls() {
        let (Some(url), Ok(dir)) = (
            fresh("gatehouse_conformance_tls"),
            std::env::var("GATEHOUSE_TEST_PG_DIR"),
        ) else {
            return;
        };
        let url = format!("{url}?sslmode=verify-full&sslrootcert={dir}/ca.pem");
        let store = PostgresStore::open(&url).unwrap();
        let mut client = store.client().unwrap();
        assert!(encrypted(&mut client));
        store.give_back(client);
        crate::conformance::run_all(&store);
    }

    #[test]
    fn a_change_through_one_node_moves_the_token_every_node_reads() {
        let Some(url) = fresh("gatehouse_tokens") else {
            return;
        };
        let first = PostgresStore::open(&url)
            .unwrap()
            .with_volatile_tables(&["volatile"]);
        // A second node: migrations already done, it only checks.
        let second = PostgresStore::open(&url)
            .unwrap()
            .with_volatile_tables(&["volatile"]);
        let cached = crate::CachedStore::new(first, &["volatile"]);
        crate::write(&cached, |t| t.put("users", "bob", b"1")).unwrap();
        let token = cached.change_token().unwrap();
        assert_eq!(
            crate::read(&cached, |t| t.get("users", "bob")).unwrap(),
            Some(b"1".to_vec())
        );
        crate::write(&second, |t| t.put("users", "bob", b"2")).unwrap();
        assert_ne!(cached.change_token(), Some(token));
        assert_eq!(
            crate::read(&cached, |t| t.get("users", "bob")).unwrap(),
            Some(b"2".to_vec()),
            "the very next read sees the other node's commit"
        );
        let token = cached.change_token();
        crate::write(&second, |t| t.put("volatile", "k", b"a")).unwrap();
        assert_eq!(
            cached.change_token(),
            token,
            "volatile writes are not changes"
        );
        // A failed body changes nothing, not even the token.
        let failed: Result<(), StoreError> = crate::write(&second, |t| {
            t.put("users", "carol", b"1")?;
            Err(StoreError::Backend("the body refuses".into()))
        });
        assert!(failed.is_err());
        assert_eq!(cached.change_token(), token);
        assert_eq!(
            crate::read(&cached, |t| t.get("users", "carol")).unwrap(),
            None
        );
    }

    #[test]
    fn migrations_run_once_when_nodes_start_together() {
        let Some(url) = fresh("gatehouse_migrations") else {
            return;
        };
        let opened: Vec<Result<PostgresStore, StoreError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| PostgresStore::open(&url)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for store in opened {
            store.unwrap().check_integrity().unwrap();
        }
    }
}
