//! One behavioural suite that every [`Store`] backend must pass.
//!
//! Backends call [`run_all`] from their own tests with a fresh, empty store.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test suite: failures must abort loudly"
)]

use crate::{Store, StoreError, read, write};

pub fn run_all(store: &dyn Store) {
    get_put_delete(store);
    insert_only_when_absent(store);
    scan_in_key_order_with_prefix_and_cursor(store);
    failed_body_rolls_back(store);
    tables_are_separate(store);
    generation_changes_with_every_write(store);
}

fn generation_changes_with_every_write(store: &dyn Store) {
    let before = store.generation();
    read(store, |t| t.get("g", "k")).unwrap();
    assert_eq!(
        store.generation(),
        before,
        "a read must not change the generation"
    );
    write(store, |t| t.put("g", "k", b"1")).unwrap();
    let after_one = store.generation();
    assert_ne!(after_one, before);
    write(store, |t| t.put("g", "k", b"2")).unwrap();
    assert_ne!(store.generation(), after_one);
}

fn get_put_delete(store: &dyn Store) {
    assert_eq!(read(store, |t| t.get("a", "k1")).unwrap(), None);
    write(store, |t| t.put("a", "k1", b"v1")).unwrap();
    write(store, |t| t.put("a", "k1", b"v2")).unwrap();
    assert_eq!(
        read(store, |t| t.get("a", "k1")).unwrap(),
        Some(b"v2".to_vec())
    );
    assert!(write(store, |t| t.delete("a", "k1")).unwrap());
    assert!(!write(store, |t| t.delete("a", "k1")).unwrap());
    assert_eq!(read(store, |t| t.get("a", "k1")).unwrap(), None);
}

fn insert_only_when_absent(store: &dyn Store) {
    assert!(write(store, |t| t.insert("b", "k", b"first")).unwrap());
    assert!(!write(store, |t| t.insert("b", "k", b"second")).unwrap());
    assert_eq!(
        read(store, |t| t.get("b", "k")).unwrap(),
        Some(b"first".to_vec())
    );
}

fn scan_in_key_order_with_prefix_and_cursor(store: &dyn Store) {
    write(store, |t| {
        for key in ["u/b", "u/a", "u/c", "v/a", "u", "u/é"] {
            t.put("c", key, key.as_bytes())?;
        }
        Ok::<_, StoreError>(())
    })
    .unwrap();
    let keys = |prefix: &str, after: Option<&str>, limit: usize| -> Vec<String> {
        read(store, |t| t.scan("c", prefix, after, limit))
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys("u/", None, 10), ["u/a", "u/b", "u/c", "u/é"]);
    assert_eq!(keys("u/", Some("u/a"), 2), ["u/b", "u/c"]);
    assert_eq!(
        keys("", None, 100),
        ["u", "u/a", "u/b", "u/c", "u/é", "v/a"]
    );
    assert_eq!(read(store, |t| t.count("c", "u/")).unwrap(), 4);
    assert_eq!(read(store, |t| t.count("c", "")).unwrap(), 6);
}

fn failed_body_rolls_back(store: &dyn Store) {
    let result: Result<(), StoreError> = write(store, |t| {
        t.put("d", "k", b"v")?;
        Err(StoreError::Backend("the caller changed its mind".into()))
    });
    assert!(result.is_err());
    assert_eq!(read(store, |t| t.get("d", "k")).unwrap(), None);
}

fn tables_are_separate(store: &dyn Store) {
    write(store, |t| t.put("e1", "k", b"1")).unwrap();
    assert_eq!(read(store, |t| t.get("e2", "k")).unwrap(), None);
    assert_eq!(read(store, |t| t.count("e2", "")).unwrap(), 0);
}
