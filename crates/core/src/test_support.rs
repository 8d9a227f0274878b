//! Helpers for unit tests: a throw-away SQLite store and a `Gatehouse` on it.

use std::sync::Arc;

use gatehouse_store::{SqliteStore, Store};
use gatehouse_types::AccountId;

use crate::{Gatehouse, MasterKey};

/// A new SQLite store in its own temporary directory (left for the OS to clean).
pub fn temp_store() -> Arc<dyn Store> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-core-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Arc::new(SqliteStore::open(&dir.join("test.db")).unwrap())
}

/// A `Gatehouse` for `account` on `store`, with a new master key.
pub fn gatehouse_on(store: Arc<dyn Store>, account: &str) -> Gatehouse {
    gatehouse_with_key(store, account, MasterKey::generate().unwrap())
}

pub fn gatehouse_with_key(store: Arc<dyn Store>, account: &str, key: MasterKey) -> Gatehouse {
    Gatehouse::new(store, AccountId::parse(account).unwrap(), key, None)
}
