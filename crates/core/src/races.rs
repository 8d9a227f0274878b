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
/// The root user's key, configured on both nodes (requests are checked against it).
use crate::test_support::ROOT_KEY;

/// Two services on two stores opened on the same file, sharing one master key.
fn two_nodes() -> (Gatehouse, Gatehouse) {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-races-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    // Process ids are reused: a directory left by an earlier run must not be reopened (its
    // store was sealed under another master key).
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = MasterKey::generate().unwrap();
    let node = |key: MasterKey| {
        let sqlite = SqliteStore::open(&dir.join("g.db"))
            .unwrap()
            .with_volatile_tables(crate::VOLATILE_TABLES);
        let store: Arc<dyn Store> = Arc::new(CachedStore::new(sqlite, crate::VOLATILE_TABLES));
        Gatehouse::new(
            store,
            AccountId::parse(ACCOUNT).unwrap(),
            key,
            Some((
                ROOT_KEY.to_string(),
                gatehouse_types::SecretKey::new("root-secret"),
            )),
        )
    };
    let a = node(MasterKey::from_hex(&key.to_hex()).unwrap());
    let b = node(key);
    a.prepare_store().unwrap();
    a.init_account(Timestamp::from_unix_millis(1)).unwrap();
    (a, b)
}

fn root() -> RequestContext {
    crate::test_support::root_request(ACCOUNT)
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

/// A caller's record as authentication saw it, a moment before a change committed.
fn as_user(node: &Gatehouse, name: &str, key: &str) -> RequestContext {
    let user =
        crate::model::entity::by_name::<crate::UserRecord>(&mut SnapshotTxn(node), ACCOUNT, name)
            .unwrap()
            .unwrap();
    RequestContext {
        caller: Caller {
            account: AccountId::parse(ACCOUNT).unwrap(),
            principal: Principal::User(Arc::new(user)),
            access_key_id: key.to_string(),
            seen_at: None,
            session: None,
        },
        ..root()
    }
}

/// Reads through a node's store outside any request (test setup only).
struct SnapshotTxn<'a>(&'a Gatehouse);

impl gatehouse_store::Txn for SnapshotTxn<'_> {
    fn get(
        &mut self,
        table: gatehouse_store::Table,
        key: &str,
    ) -> Result<Option<Vec<u8>>, gatehouse_store::StoreError> {
        gatehouse_store::read(self.0.store.as_ref(), |t| t.get(table, key))
    }
    fn put(
        &mut self,
        _: gatehouse_store::Table,
        _: &str,
        _: &[u8],
    ) -> Result<(), gatehouse_store::StoreError> {
        unreachable!("read only")
    }
    fn insert(
        &mut self,
        _: gatehouse_store::Table,
        _: &str,
        _: &[u8],
    ) -> Result<bool, gatehouse_store::StoreError> {
        unreachable!("read only")
    }
    fn delete(
        &mut self,
        _: gatehouse_store::Table,
        _: &str,
    ) -> Result<bool, gatehouse_store::StoreError> {
        unreachable!("read only")
    }
    fn scan(
        &mut self,
        table: gatehouse_store::Table,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, gatehouse_store::StoreError> {
        gatehouse_store::read(self.0.store.as_ref(), |t| {
            t.scan(table, prefix, after, limit)
        })
    }
    fn count(
        &mut self,
        table: gatehouse_store::Table,
        prefix: &str,
    ) -> Result<u64, gatehouse_store::StoreError> {
        gatehouse_store::read(self.0.store.as_ref(), |t| t.count(table, prefix))
    }
    fn scan_all(
        &mut self,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<gatehouse_store::Row>, gatehouse_store::StoreError> {
        gatehouse_store::read(self.0.store.as_ref(), |t| t.scan_all(after, limit))
    }
}

#[test]
fn a_change_committed_after_authentication_is_in_force_for_the_request() {
    use gatehouse_protocol::iam::{
        DeleteUserPolicyRequest, GetUserRequest, PutUserPolicyRequest, UpdateAccessKeyRequest,
    };
    let nodes = two_nodes();
    assert!(create_user(&nodes.0, "dana"));
    let key = nodes
        .0
        .create_access_key(
            &root(),
            CreateAccessKeyRequest {
                user_name: Some("dana".into()),
            },
        )
        .unwrap()
        .access_key
        .access_key_id;
    nodes
        .0
        .put_user_policy(
            &root(),
            PutUserPolicyRequest {
                user_name: "dana".into(),
                policy_name: "all".into(),
                policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:*","Resource":"*"}}"#.into(),
            },
        )
        .unwrap();
    // Authenticated (on node 1) while the policy was there...
    let authenticated = as_user(&nodes.1, "dana", &key);
    let get = || GetUserRequest {
        user_name: Some("dana".into()),
    };
    nodes.1.get_user(&authenticated, get()).unwrap();
    // ...then the policy is deleted through node 0 before the request's transaction runs.
    nodes
        .0
        .delete_user_policy(
            &root(),
            DeleteUserPolicyRequest {
                user_name: "dana".into(),
                policy_name: "all".into(),
            },
        )
        .unwrap();
    let denied = nodes.1.get_user(&authenticated, get()).unwrap_err();
    assert_eq!(
        denied.code,
        gatehouse_protocol::error::ErrorCode::AccessDenied
    );
    // A key deactivated meanwhile is refused as authentication would refuse it.
    nodes
        .0
        .update_access_key(
            &root(),
            UpdateAccessKeyRequest {
                user_name: Some("dana".into()),
                access_key_id: key.clone(),
                status: gatehouse_protocol::iam::StatusType::Inactive,
            },
        )
        .unwrap();
    let refused = nodes.1.get_user(&authenticated, get()).unwrap_err();
    assert_eq!(
        refused.code,
        gatehouse_protocol::error::ErrorCode::InvalidClientTokenId
    );
}

#[test]
fn store_check_accepts_every_kind_of_policy_holder_and_counts_boundaries() {
    use gatehouse_protocol::iam::{
        CreateGroupRequest, CreatePolicyRequest, PutGroupPolicyRequest,
        PutUserPermissionsBoundaryRequest,
    };
    let nodes = two_nodes();
    let g = &nodes.0;
    g.create_group(
        &root(),
        CreateGroupRequest {
            group_name: "ops".into(),
            path: None,
        },
    )
    .unwrap();
    g.put_group_policy(
        &root(),
        PutGroupPolicyRequest {
            group_name: "ops".into(),
            policy_name: "p".into(),
            policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#.into(),
        },
    )
    .unwrap();
    let arn = g
        .create_policy(
            &root(),
            CreatePolicyRequest {
                policy_name: "b".into(),
                policy_document: r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#.into(),
                ..Default::default()
            },
        )
        .unwrap()
        .policy
        .unwrap()
        .arn
        .unwrap();
    assert!(create_user(g, "erin"));
    for _ in 0..2 {
        // The same boundary twice counts once.
        g.put_user_permissions_boundary(
            &root(),
            PutUserPermissionsBoundaryRequest {
                user_name: "erin".into(),
                permissions_boundary: arn.clone(),
            },
        )
        .unwrap();
    }
    assert_eq!(g.check_consistency().unwrap(), Vec::<String>::new());
    g.delete_user(
        &root(),
        DeleteUserRequest {
            user_name: "erin".into(),
        },
    )
    .unwrap();
    assert_eq!(g.check_consistency().unwrap(), Vec::<String>::new());
    g.delete_policy(
        &root(),
        gatehouse_protocol::iam::DeletePolicyRequest { policy_arn: arn },
    )
    .unwrap();
}
