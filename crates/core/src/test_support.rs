//! Helpers for unit tests: a throw-away SQLite store and a `Gatehouse` on it.

use std::sync::Arc;

use gatehouse_store::{SqliteStore, Store};
use gatehouse_types::{AccountId, SecretKey, Timestamp};

use crate::{Caller, Gatehouse, MasterKey, MasterKeys, Principal, RequestContext};

/// The root key of [`gatehouse_with_root`]'s account.
pub const ROOT_KEY: &str = "AKIATESTROOTKEY00001";

/// A new SQLite store in its own temporary directory (left for the OS to clean).
pub fn temp_store() -> Arc<dyn Store> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-core-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    // Process ids are reused: a directory left by an earlier run must not be reopened (its
    // store was sealed under another master key).
    let _ = std::fs::remove_dir_all(&dir);
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

/// A `Gatehouse` for `account` whose store is prepared and whose root key is [`ROOT_KEY`], as
/// a server's would be.
pub fn gatehouse_with_root(
    store: Arc<dyn Store>,
    account: &str,
    keys: impl Into<MasterKeys>,
) -> Gatehouse {
    let g = Gatehouse::new(
        store,
        AccountId::parse(account).unwrap(),
        keys,
        Some((ROOT_KEY.to_string(), SecretKey::new("root-secret"))),
    );
    g.prepare_store().unwrap();
    g.init_account(now()).unwrap();
    g
}

/// The wall clock (certificates are checked against their validity dates).
pub fn now() -> Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    Timestamp::from_unix_millis(i64::try_from(since_epoch.as_millis()).unwrap())
}

/// A request by `account`'s root user, signed with [`ROOT_KEY`], now.
pub fn root_request(account: &str) -> RequestContext {
    RequestContext {
        request_id: "test".into(),
        now: now(),
        caller: Caller {
            account: AccountId::parse(account).unwrap(),
            principal: Principal::Root,
            access_key_id: ROOT_KEY.into(),
            seen_at: None,
            session: None,
        },
        region: "us-east-1".into(),
        source_ip: None,
        secure_transport: false,
    }
}
