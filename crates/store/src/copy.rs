//! Copying a whole store into another (`gatehouse store migrate`): every row of every table,
//! read in one snapshot of the source, written into an empty target, then read back and
//! compared with what was read. Secrets stay sealed: the rows are copied as they are.

use crate::{Row, Store, StoreError, read, write};

/// Rows per read page and per write transaction.
const PAGE: usize = 500;

/// Every row of `store`, in (table, key) order, from one snapshot.
pub fn dump(store: &dyn Store) -> Result<Vec<Row>, StoreError> {
    read(store, |t| {
        let mut rows: Vec<Row> = Vec::new();
        loop {
            let after = rows
                .last()
                .map(|(table, key, _)| (table.as_str(), key.as_str()));
            let page = t.scan_all(after, PAGE)?;
            let done = page.len() < PAGE;
            rows.extend(page);
            if done {
                return Ok(rows);
            }
        }
    })
}

/// Copies `from` into `to`, which must hold no row, and checks that `to` then holds exactly
/// what was read from `from`. Returns the number of rows copied.
pub fn copy(from: &dyn Store, to: &dyn Store) -> Result<usize, StoreError> {
    let occupied = read(to, |t| t.scan_all(None, 1))?;
    if let Some((table, key, _)) = occupied.first() {
        return Err(StoreError::Backend(format!(
            "the target store is not empty (it holds {table}/{key}): copy only into a new one"
        )));
    }
    let rows = dump(from)?;
    for chunk in rows.chunks(PAGE) {
        write(to, |t| {
            for (table, key, value) in chunk {
                // Table names are `&'static str` in the interface: the copy leaks each distinct
                // name once (a few dozen per store).
                if !t.insert(intern(table), key, value)? {
                    return Err(StoreError::Backend(format!(
                        "{table}/{key} appeared in the target during the copy"
                    )));
                }
            }
            Ok(())
        })?;
    }
    let copied = dump(to)?;
    if copied != rows {
        let first = rows
            .iter()
            .zip(copied.iter())
            .find(|(a, b)| a != b)
            .map(|(a, _)| format!("{}/{}", a.0, a.1))
            .unwrap_or_else(|| format!("{} rows read, {} found", rows.len(), copied.len()));
        return Err(StoreError::Corrupt(format!(
            "the copy differs from the source at {first}"
        )));
    }
    Ok(rows.len())
}

/// A `'static` table name for a name read from a store.
fn intern(table: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(name) = names.get(table) {
        return name;
    }
    let name: &'static str = Box::leak(table.to_string().into_boxed_str());
    names.insert(name);
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStore;

    fn temp(name: &str) -> (std::path::PathBuf, SqliteStore) {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-copy-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("test.db")).unwrap();
        (dir, store)
    }

    #[test]
    fn copies_every_row_and_refuses_a_full_target() {
        let (dir_a, from) = temp("from");
        let (dir_b, to) = temp("to");
        write(&from, |t| {
            for i in 0..1234 {
                t.put("users", &format!("k{i:05}"), format!("v{i}").as_bytes())?;
            }
            t.put("meta", "check", b"sealed")
        })
        .unwrap();
        assert_eq!(copy(&from, &to).unwrap(), 1235);
        assert_eq!(dump(&to).unwrap(), dump(&from).unwrap());
        let again = copy(&from, &to);
        assert!(matches!(again, Err(StoreError::Backend(m)) if m.contains("not empty")));
        drop((from, to));
        std::fs::remove_dir_all(dir_a).unwrap();
        std::fs::remove_dir_all(dir_b).unwrap();
    }
}
