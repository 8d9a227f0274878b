//! A read-through cache in front of any [`Store`], validated on every transaction by the
//! backend's [`Store::change_token`].
//!
//! A read transaction first reads the token (for SQLite, one `pread`). If the token is the
//! one the cache was filled at, the body runs on cached rows alone and no backend transaction
//! is opened. On the first row the cache lacks, the body runs again inside a real read
//! transaction; what that transaction reads is kept only if the token, read again after its
//! snapshot began, is still the same. If it is not, the body runs once more on the backend
//! alone, so a body never mixes rows of two states. Any commit anywhere changes the token and
//! so empties every process's cache: nothing served from it can be older than the last
//! commit a client could have seen. Write transactions go straight to the backend.
//!
//! Only point reads (`get`) are cached; scans and counts always read the backend. Volatile
//! tables (whose writes do not change the token) are never cached.
//!
//! Each group of threads keeps a cache of its own ([`Sharded`]): a lookup then takes a lock no
//! thread on another CPU is taking, and a row is at most read once per group.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use gatehouse_types::sharded::Sharded;

use crate::{Mode, Rollback, Store, StoreError, Table, Txn};

/// Rows one thread group's cache keeps before it starts over.
const MAX_ROWS: usize = 25_000;

type Row = Option<Vec<u8>>;

pub struct CachedStore<S> {
    inner: S,
    volatile: &'static [Table],
    state: Sharded<Mutex<State>>,
}

struct State {
    token: u64,
    /// By table, then key: a lookup by `&str` allocates nothing.
    tables: HashMap<Table, HashMap<String, Row>>,
    rows: usize,
}

impl<S: Store> CachedStore<S> {
    /// Caches `inner`'s point reads, except of the `volatile` tables.
    pub fn new(inner: S, volatile: &'static [Table]) -> Self {
        CachedStore {
            inner,
            volatile,
            state: Sharded::new(|| {
                Mutex::new(State {
                    token: 0,
                    tables: HashMap::new(),
                    rows: 0,
                })
            }),
        }
    }

    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn lookup(&self, token: u64, table: Table, key: &str) -> Option<Row> {
        // The map is changed one whole row at a time: a poisoned lock leaves it usable.
        let state = self
            .state
            .local()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.token != token {
            return None;
        }
        state.tables.get(table)?.get(key).cloned()
    }

    fn keep(&self, token: u64, table: Table, key: &str, row: &Row) {
        let mut state = self
            .state
            .local()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if token != state.token {
            // Tokens only grow while a store lives: an older one's rows are not wanted.
            if token < state.token {
                return;
            }
            state.token = token;
            state.tables.clear();
            state.rows = 0;
        }
        if state.rows >= MAX_ROWS {
            state.tables.clear();
            state.rows = 0;
        }
        let previous = state
            .tables
            .entry(table)
            .or_default()
            .insert(key.to_string(), row.clone());
        if previous.is_none() {
            state.rows += 1;
        }
    }
}

/// How a cached transaction ended.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Every read was answered.
    Complete,
    /// It needed something the cache lacks (from cache alone), or the state moved on
    /// while it read (inside a backend transaction).
    Retry,
}

/// A read transaction answered from the cache, and from `backend` when there is one.
struct CachedTxn<'a, S> {
    store: &'a CachedStore<S>,
    token: u64,
    backend: Option<&'a mut dyn Txn>,
    /// Whether the backend's snapshot is known to be the state at `token` (checked after its
    /// first read).
    verified: Option<bool>,
    verdict: Verdict,
}

fn missed() -> StoreError {
    StoreError::Backend("not in the cache (the transaction is run again)".into())
}

impl<S: Store> CachedTxn<'_, S> {
    fn backend(&mut self) -> Result<&mut dyn Txn, StoreError> {
        match self.backend.as_deref_mut() {
            Some(txn) => Ok(txn),
            None => {
                self.verdict = Verdict::Retry;
                Err(missed())
            }
        }
    }

    /// After a backend read: on the first, whether its snapshot is the state at `token`.
    fn check_snapshot(&mut self) -> bool {
        let verified = *self
            .verified
            .get_or_insert_with(|| self.store.inner.change_token() == Some(self.token));
        if !verified {
            self.verdict = Verdict::Retry;
        }
        verified
    }

    fn read_only() -> StoreError {
        StoreError::Backend("a write in a read transaction".into())
    }
}

impl<S: Store> Txn for CachedTxn<'_, S> {
    fn get(&mut self, table: Table, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let cacheable = !self.store.volatile.contains(&table);
        if cacheable && let Some(row) = self.store.lookup(self.token, table, key) {
            return Ok(row);
        }
        let row = self.backend()?.get(table, key)?;
        if self.check_snapshot() && cacheable {
            self.store.keep(self.token, table, key, &row);
        }
        Ok(row)
    }

    fn put(&mut self, _: Table, _: &str, _: &[u8]) -> Result<(), StoreError> {
        Err(Self::read_only())
    }

    fn insert(&mut self, _: Table, _: &str, _: &[u8]) -> Result<bool, StoreError> {
        Err(Self::read_only())
    }

    fn delete(&mut self, _: Table, _: &str) -> Result<bool, StoreError> {
        Err(Self::read_only())
    }

    fn scan(
        &mut self,
        table: Table,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let rows = self.backend()?.scan(table, prefix, start_after, limit)?;
        self.check_snapshot();
        Ok(rows)
    }

    fn count(&mut self, table: Table, prefix: &str) -> Result<u64, StoreError> {
        let n = self.backend()?.count(table, prefix)?;
        self.check_snapshot();
        Ok(n)
    }

    fn scan_all(
        &mut self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<crate::Row>, StoreError> {
        let rows = self.backend()?.scan_all(after, limit)?;
        self.check_snapshot();
        Ok(rows)
    }

    fn snapshot_token(&self) -> Option<u64> {
        Some(self.token)
    }
}

impl<S: Store> CachedStore<S> {
    /// A read transaction validated against `token`.
    fn read_at(
        &self,
        token: u64,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError> {
        // 1. From the cache alone.
        let mut txn = CachedTxn {
            store: self,
            token,
            backend: None,
            verified: None,
            verdict: Verdict::Complete,
        };
        let _ = body(&mut txn);
        if txn.verdict == Verdict::Complete {
            return Ok(());
        }
        // 2. With a backend transaction, filling the cache.
        let mut verdict = Verdict::Complete;
        self.inner.transact(Mode::Read, &mut |backend| {
            let mut txn = CachedTxn {
                store: self,
                token,
                backend: Some(backend),
                verified: None,
                verdict: Verdict::Complete,
            };
            let outcome = body(&mut txn);
            verdict = txn.verdict;
            outcome
        })?;
        if verdict == Verdict::Complete {
            return Ok(());
        }
        // 3. The state moved on meanwhile: the backend alone.
        self.inner.transact(Mode::Read, body)
    }
}

impl<S: Store> Store for CachedStore<S> {
    fn transact(
        &self,
        mode: Mode,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError> {
        match (mode, self.inner.change_token()) {
            (Mode::Read, Some(token)) => self.read_at(token, body),
            _ => self.inner.transact(mode, body),
        }
    }

    /// The cache answers from the state at `token` if it still holds it (no token read); a
    /// row it lacks is read in a backend transaction checked against `token` as usual, and a
    /// state that moved on meanwhile is read afresh.
    fn transact_read_as_of(
        &self,
        token: u64,
        body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
    ) -> Result<(), StoreError> {
        self.read_at(token, body)
    }

    fn change_token(&self) -> Option<u64> {
        self.inner.change_token()
    }

    fn check_integrity(&self) -> Result<(), StoreError> {
        self.inner.check_integrity()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::{read, read_as_of, write};

    /// A backend that counts how often its change token is read.
    struct Counting {
        inner: crate::SqliteStore,
        token_reads: AtomicUsize,
    }

    impl Store for Counting {
        fn transact(
            &self,
            mode: Mode,
            body: &mut dyn FnMut(&mut dyn Txn) -> Result<(), Rollback>,
        ) -> Result<(), StoreError> {
            self.inner.transact(mode, body)
        }
        fn change_token(&self) -> Option<u64> {
            self.token_reads.fetch_add(1, Ordering::SeqCst);
            self.inner.change_token()
        }
        fn check_integrity(&self) -> Result<(), StoreError> {
            self.inner.check_integrity()
        }
    }

    fn get(t: &mut dyn Txn) -> Result<Option<Vec<u8>>, StoreError> {
        t.get("t", "k")
    }

    #[test]
    fn a_read_as_of_a_token_just_seen_asks_no_token_and_never_mixes_states() {
        let dir = std::env::temp_dir().join(format!("gatehouse-cached-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("as-of.db");
        let _ = std::fs::remove_file(&path);
        let store = CachedStore::new(
            Counting {
                inner: crate::SqliteStore::open(&path).unwrap(),
                token_reads: AtomicUsize::new(0),
            },
            &[],
        );
        let reads = || store.inner().token_reads.load(Ordering::SeqCst);
        write(&store, |t| t.put("t", "k", b"1")).unwrap();
        // Authentication's read: one token read, and the token it saw.
        let seen = read(&store, |t| get(t).map(|_| t.snapshot_token())).unwrap();
        let before = reads();
        // The operation's read of the same request: from the cache, no token read.
        let row = read_as_of(&store, seen, get).unwrap();
        assert_eq!((row.as_deref(), reads()), (Some(&b"1"[..]), before));
        // A change meanwhile: a row the cache lacks is not read from the new state as if it
        // were the old one; the body runs again on the new state alone.
        write(&store, |t| {
            t.put("t", "k", b"2").and(t.put("t", "other", b"x"))
        })
        .unwrap();
        let both = read_as_of(&store, seen, |t| {
            Ok::<_, StoreError>((get(t)?, t.get("t", "other")?))
        })
        .unwrap();
        assert_eq!(both, (Some(b"2".to_vec()), Some(b"x".to_vec())));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
