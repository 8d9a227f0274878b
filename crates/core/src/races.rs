//! Races between requests through the whole pipeline, on two stores opened on one SQLite
//! file (as two server processes would): names stay unique in every letter case, the
//! access-key quota holds, and a user deleted while a key is being created leaves no orphan.
//! Each node reads through its own validated cache, as a server does.

use std::sync::{Arc, Barrier};

use gatehouse_protocol::iam::{
    CreateAccessKeyRequest, CreateUserRequest, DeleteUserRequest, IamApi,
};
use gatehouse_store::{CachedStore, SqliteStore, Store};
use gatehouse_types::{AccountId, Timestamp};

use crate::{Caller, Gatehouse, MasterKey, Principal, RequestContext};

const ACCOUNT: &str = "111122223333";

/// Two services on two stores opened on the same file, sharing one master key.
fn two_nodes() -> (Gatehouse, Gatehouse) {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-races-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let key = MasterKey::generate().unwrap();
    let node = |key: MasterKey| {
        let sqlite = SqliteStore::open(&dir.join("g.db"))
            .unwrap()
            .with_volatile_tables(crate::VOLATILE_TABLES);
        let store: Arc<dyn Store> = Arc::new(CachedStore::new(sqlite, crate::VOLATILE_TABLES));
        Gatehouse::new(store, AccountId::parse(ACCOUNT).unwrap(), key, None)
    };
    let a = node(MasterKey::from_hex(&key.to_hex()).unwrap());
    let b = node(key);
    a.prepare_store().unwrap();
    a.init_account(Timestamp::from_unix_millis(1)).unwrap();
    (a, b)
}

fn root() -> RequestContext {
    RequestContext {
        request_id: "test".into(),
        now: Timestamp::from_unix_millis(2),
        caller: Caller {
            account: AccountId::parse(ACCOUNT).unwrap(),
            principal: Principal::Root,
            access_key_id: "AKIATEST".into(),
        },
        region: "us-east-1".into(),
        source_ip: None,
        secure_transport: false,
    }
}

/// Runs `body(node, i)` on `n` threads at once, alternating between the two nodes.
fn race<T: Send>(
    nodes: &(Gatehouse, Gatehouse),
    n: usize,
    body: impl Fn(&Gatehouse, usize) -> T + Sync,
) -> Vec<T> {
    let barrier = Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, body) = (&barrier, &body);
                let node = if i % 2 == 0 { &nodes.0 } else { &nodes.1 };
                scope.spawn(move || {
                    barrier.wait();
                    body(node, i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn create_user(node: &Gatehouse, name: &str) -> bool {
    node.create_user(
        &root(),
        CreateUserRequest {
            user_name: name.into(),
            ..Default::default()
        },
    )
    .is_ok()
}

#[test]
fn racing_creates_of_one_name_in_different_case_have_one_winner() {
    let nodes = two_nodes();
    for round in 0..5 {
        let spellings = [
            format!("bob{round}"),
            format!("BOB{round}"),
            format!("Bob{round}"),
            format!("bOb{round}"),
        ];
        let won = race(&nodes, 4, |node, i| create_user(node, &spellings[i]));
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {won:?}"
        );
    }
    assert!(nodes.0.check_consistency().unwrap().is_empty());
}

#[test]
fn racing_key_creations_keep_the_two_key_quota() {
    let nodes = two_nodes();
    assert!(create_user(&nodes.0, "alice"));
    let created = race(&nodes, 6, |node, _| {
        node.create_access_key(
            &root(),
            CreateAccessKeyRequest {
                user_name: Some("alice".into()),
            },
        )
        .is_ok()
    });
    assert_eq!(created.iter().filter(|c| **c).count(), 2, "{created:?}");
    assert!(nodes.1.check_consistency().unwrap().is_empty());
}

#[test]
fn delete_user_racing_create_access_key_leaves_no_orphan() {
    let nodes = two_nodes();
    for round in 0..10 {
        let name = format!("carol{round}");
        assert!(create_user(&nodes.0, &name));
        race(&nodes, 2, |node, i| {
            if i == 0 {
                let _ = node.create_access_key(
                    &root(),
                    CreateAccessKeyRequest {
                        user_name: Some(name.clone()),
                    },
                );
            } else {
                let _ = node.delete_user(
                    &root(),
                    DeleteUserRequest {
                        user_name: name.clone(),
                    },
                );
            }
        });
        let problems = nodes.0.check_consistency().unwrap();
        assert!(problems.is_empty(), "round {round}: {problems:?}");
    }
}
