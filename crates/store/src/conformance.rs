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
    scan_all_pages_every_table_in_order(store);
    racing_inserts_have_one_winner(store);
    read_modify_write_is_serializable(store);
    counted_quota_holds_under_races(store);
    parent_delete_races_child_insert(store);
}

/// `scan_all` walks every row of every table in (table, key) order, page by page.
fn scan_all_pages_every_table_in_order(store: &dyn Store) {
    write(store, |t| {
        t.put("all_b", "x", b"3")?;
        t.put("all_a", "y", b"2")?;
        t.put("all_a", "x", b"1")
    })
    .unwrap();
    let mut seen = Vec::new();
    let mut after: Option<(String, String)> = None;
    loop {
        let page = read(store, |t| {
            t.scan_all(after.as_ref().map(|(a, b)| (a.as_str(), b.as_str())), 2)
        })
        .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|(t, k, _)| (t.clone(), k.clone()));
        seen.extend(page);
    }
    let ours: Vec<(String, String, Vec<u8>)> = seen
        .into_iter()
        .filter(|(t, _, _)| t.starts_with("all_"))
        .collect();
    assert_eq!(
        ours,
        vec![
            ("all_a".into(), "x".into(), b"1".to_vec()),
            ("all_a".into(), "y".into(), b"2".to_vec()),
            ("all_b".into(), "x".into(), b"3".to_vec()),
        ]
    );
}

/// Threads that start together, each running `body(i)`.
fn race<T: Send>(threads: usize, body: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (barrier, body) = (&barrier, &body);
                scope.spawn(move || {
                    barrier.wait();
                    body(i)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Exactly one of several concurrent inserts of one key succeeds.
fn racing_inserts_have_one_winner(store: &dyn Store) {
    for round in 0..10 {
        let key = format!("k{round}");
        let won = race(8, |i| {
            write(store, |t| t.insert("race", &key, format!("{i}").as_bytes())).unwrap()
        });
        assert_eq!(
            won.iter().filter(|w| **w).count(),
            1,
            "round {round}: {won:?}"
        );
    }
}

/// A read followed by a write in one transaction loses no concurrent update.
fn read_modify_write_is_serializable(store: &dyn Store) {
    race(4, |_| {
        for _ in 0..25 {
            write(store, |t| {
                let n: u64 = t
                    .get("counter", "n")?
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                t.put("counter", "n", (n + 1).to_string().as_bytes())
            })
            .unwrap();
        }
    });
    let n = read(store, |t| t.get("counter", "n")).unwrap();
    assert_eq!(n.as_deref(), Some(&b"100"[..]));
}

/// A quota checked by counting and then inserting holds when callers race.
fn counted_quota_holds_under_races(store: &dyn Store) {
    let added = race(8, |i| {
        write(store, |t| {
            if t.count("quota", "owner/")? >= 2 {
                return Ok(false);
            }
            t.insert("quota", &format!("owner/{i}"), b"")
        })
        .unwrap()
    });
    assert_eq!(added.iter().filter(|a| **a).count(), 2);
    assert_eq!(read(store, |t| t.count("quota", "owner/")).unwrap(), 2);
}

/// Deleting a parent that must have no children races adding a child to it: never an orphan.
fn parent_delete_races_child_insert(store: &dyn Store) {
    for round in 0..20 {
        let parent = format!("p{round}");
        write(store, |t| t.put("parents", &parent, b"")).unwrap();
        race(2, |i| {
            write(store, |t| {
                if i == 0 {
                    if t.get("parents", &parent)?.is_some() {
                        t.put("children", &format!("{parent}/c"), b"")?;
                    }
                } else if t.count("children", &format!("{parent}/"))? == 0 {
                    t.delete("parents", &parent)?;
                }
                Ok::<_, StoreError>(())
            })
            .unwrap()
        });
        let (has_parent, children) = read(store, |t| {
            Ok::<_, StoreError>((
                t.get("parents", &parent)?.is_some(),
                t.count("children", &format!("{parent}/"))?,
            ))
        })
        .unwrap();
        assert!(
            has_parent || children == 0,
            "round {round}: an orphaned child"
        );
    }
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
