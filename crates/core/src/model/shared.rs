//! Decoded records shared between requests. A record is decoded once per distinct stored
//! form: an entry is used only while the bytes the store holds now are the bytes it was
//! decoded from, so it is derived from content and never stale, whatever wrote the store.
//! Authentication reads the caller's key and user on every request; this spares decoding them.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use gatehouse_store::{Table, Txn};
use gatehouse_types::sharded::Sharded;

use crate::errors::Result;
use crate::model::records::{Record, decode};

/// Bounds the memory: past it the cache starts again empty.
const MAX_SHARED_RECORDS: usize = 10_000;

type Entry = (Vec<u8>, Arc<dyn Any + Send + Sync>);

/// One per thread group ([`Sharded`]): a record is decoded at most once per group.
#[derive(Default)]
pub struct SharedRecords {
    tables: Sharded<Mutex<HashMap<Table, HashMap<String, Entry>>>>,
}

impl SharedRecords {
    /// The record at `key` as the transaction reads it, decoded at most once per stored form.
    pub fn get<T: Record + Send + Sync + 'static>(
        &self,
        t: &mut (impl Txn + ?Sized),
        table: Table,
        key: &str,
    ) -> Result<Option<Arc<T>>> {
        let Some(bytes) = t.get(table, key)? else {
            return Ok(None);
        };
        let shard = self.tables.local();
        {
            let tables = shard.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((stored, value)) = tables.get(table).and_then(|rows| rows.get(key))
                && *stored == bytes
                && let Ok(value) = Arc::clone(value).downcast::<T>()
            {
                return Ok(Some(value));
            }
        }
        let value: Arc<T> = Arc::new(decode(table, key, &bytes)?);
        let mut tables = shard.lock().unwrap_or_else(PoisonError::into_inner);
        if tables.values().map(HashMap::len).sum::<usize>() >= MAX_SHARED_RECORDS {
            tables.clear();
        }
        tables
            .entry(table)
            .or_default()
            .insert(key.to_string(), (bytes, value.clone()));
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::records::{LastUsed, Records};
    use crate::test_support::temp_store;
    use gatehouse_store::{read, write};

    #[test]
    fn a_record_is_decoded_again_only_when_its_bytes_change() {
        let store = temp_store();
        let shared = SharedRecords::default();
        let used = |date| LastUsed {
            v: LastUsed::VERSION,
            date,
            service: "iam".into(),
            region: "us-east-1".into(),
        };
        write(store.as_ref(), |t| t.put_record("t", "k", &used(1))).unwrap();
        let first: Arc<LastUsed> = read(store.as_ref(), |t| shared.get(t, "t", "k"))
            .unwrap()
            .unwrap();
        let again: Arc<LastUsed> = read(store.as_ref(), |t| shared.get(t, "t", "k"))
            .unwrap()
            .unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same bytes: the same decoded record"
        );
        write(store.as_ref(), |t| t.put_record("t", "k", &used(2))).unwrap();
        let changed: Arc<LastUsed> = read(store.as_ref(), |t| shared.get(t, "t", "k"))
            .unwrap()
            .unwrap();
        assert_eq!(changed.date, 2);
        write(store.as_ref(), |t| t.delete("t", "k").map(|_| ())).unwrap();
        let gone: Option<Arc<LastUsed>> =
            read(store.as_ref(), |t| shared.get(t, "t", "k")).unwrap();
        assert!(gone.is_none());
    }
}
