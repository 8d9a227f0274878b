//! Durable storage behind one small interface.
//!
//! Gatehouse keeps its state as versioned JSON documents in named tables of an ordered
//! key-value space, changed only inside transactions. That is all a backend has to provide, so
//! the embedded SQLite default and a PostgreSQL backend for many nodes implement the same
//! [`Store`] trait and pass the same [`conformance`] suite.
//!
//! Invariants:
//! - A write transaction is durable when [`write`] returns `Ok`: callers answer the client only
//!   after that.
//! - A transaction sees a consistent snapshot; write transactions are serializable (the
//!   conformance suite races them), also between processes that share the store.
//! - The store caches nothing: what a transaction reads is what is committed.

mod cached;
mod changes;
pub mod conformance;
mod copy;
#[cfg(test)]
mod migrations;
mod postgres;
mod postgres_tls;
mod sqlite;

use std::fmt;

pub use cached::CachedStore;
pub use copy::{copy, dump};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Whether a transaction may change anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
}

/// A table name. Tables are created on first use; their names are chosen by the caller.
pub type Table = &'static str;

/// Operations inside one transaction.
pub trait Txn {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Inserts or replaces.
    fn put(&mut self, table: Table, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Inserts only if absent; returns whether it inserted.
    fn insert(&mut self, table: Table, key: &str, value: &[u8]) -> Result<bool, StoreError>;
    /// Returns whether a row was deleted.
    fn delete(&mut self, table: Table, key: &str) -> Result<bool, StoreError>;
    /// Rows whose key starts with `prefix` and sorts after `start_after`, in key order
    /// (byte-wise), at most `limit` of them.
    fn scan(
        &mut self,
        table: Table,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Number of rows whose key starts with `prefix`.
    fn count(&mut self, table: Table, prefix: &str) -> Result<u64, StoreError>;
    /// Rows of every table, in (table, key) order, after `after`, at most `limit`: a whole
    /// store, page by page (copying one store into another, comparing two).
    fn scan_all(
        &mut self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<Row>, StoreError>;
    /// The store's change token this transaction reads the state of (see
    /// [`Store::change_token`]), where the backend keeps one: two transactions with the same
    /// token read the same state. A body run with a token that turns out stale is run again.
    fn snapshot_token(&self) -> Option<u64> {
        None
    }
}

/// One row of any table: table, key, value.
pub type Row = (String, String, Vec<u8>);

/// Marker returned by a transaction body that wants its changes discarded.
#[derive(Debug)]
pub struct Rollback;

/// A storage backend.
pub trait Store: Send + Sync {
    /// Runs `body` in one transaction. The body returns `Err(Rollback)` to discard its changes;
    /// otherwise a write transaction is committed durably. The body may be run again if the
    /// backend detects a conflict, so it must not have effects outside the transaction.
    fn transact(
        &self,
        mode: Mode,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError>;

    /// A value that differs after every committed change, by any process sharing the store,
    /// and is absent while a commit may be in flight: what a transaction reads after seeing
    /// token `t` is current for as long as the token is still `t`. Writes to the tables a
    /// backend was told are volatile do not change it. Reading it costs at most one cheap
    /// read; `None` always is a correct (uncached) answer.
    fn change_token(&self) -> Option<u64> {
        None
    }

    /// A read transaction of the state at `token`, a change token that a transaction of the
    /// same request read moments ago ([`Txn::snapshot_token`]): a cache may answer from that
    /// state without asking the backend for the token again (on PostgreSQL, a round trip).
    /// The request is then decided on one state, the one it was authenticated against.
    /// Stores without a cache run an ordinary read transaction.
    fn transact_read_as_of(
        &self,
        _token: u64,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError> {
        self.transact(Mode::Read, body)
    }

    /// The backend's own consistency check (for SQLite, `PRAGMA integrity_check`).
    fn check_integrity(&self) -> Result<(), StoreError>;
}

/// A storage failure. Its text is for operators' logs, never for API clients.
#[derive(Debug)]
pub enum StoreError {
    Backend(String),
    /// The backend cannot be reached now (a database server down or unreachable): the request
    /// may succeed later, so callers answer 503, not 500.
    Unavailable(String),
    Corrupt(String),
    Io(std::io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Backend(e) => write!(f, "storage backend error: {e}"),
            StoreError::Unavailable(e) => write!(f, "storage unavailable: {e}"),
            StoreError::Corrupt(e) => write!(f, "storage integrity check failed: {e}"),
            StoreError::Io(e) => write!(f, "storage i/o error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

fn run<T, E: From<StoreError>>(
    store: &dyn Store,
    mode: Mode,
    body: impl FnMut(&mut dyn Txn) -> Result<T, E>,
) -> Result<T, E> {
    with_outcome(body, |txn_body| store.transact(mode, txn_body))
}

/// Runs a typed body through `transact`, which sees only whether to commit: an `Err` rolls the
/// transaction back, and the body's last result is returned.
fn with_outcome<T, E: From<StoreError>>(
    mut body: impl FnMut(&mut dyn Txn) -> Result<T, E>,
    transact: impl FnOnce(
        &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError>,
) -> Result<T, E> {
    let mut outcome: Option<Result<T, E>> = None;
    transact(&mut |txn| {
        let result = body(txn);
        let failed = result.is_err();
        outcome = Some(result);
        if failed { Err(Rollback) } else { Ok(()) }
    })?;
    outcome
        .unwrap_or_else(|| Err(StoreError::Backend("transaction body did not run".into()).into()))
}

/// Runs `body` in a read-only transaction of the state at `token` (see
/// [`Store::transact_read_as_of`]), or of the current state without one.
pub fn read_as_of<T, E: From<StoreError>>(
    store: &dyn Store,
    token: Option<u64>,
    body: impl FnMut(&mut dyn Txn) -> Result<T, E>,
) -> Result<T, E> {
    match token {
        Some(token) => with_outcome(body, |txn_body| store.transact_read_as_of(token, txn_body)),
        None => read(store, body),
    }
}

/// Runs `body` in a read-only transaction.
pub fn read<T, E: From<StoreError>>(
    store: &dyn Store,
    body: impl FnMut(&mut dyn Txn) -> Result<T, E>,
) -> Result<T, E> {
    run(store, Mode::Read, body)
}

/// Runs `body` in a write transaction, committed durably if it returns `Ok` and rolled back
/// if it returns `Err`.
pub fn write<T, E: From<StoreError>>(
    store: &dyn Store,
    body: impl FnMut(&mut dyn Txn) -> Result<T, E>,
) -> Result<T, E> {
    run(store, Mode::Write, body)
}
