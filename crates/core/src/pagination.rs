//! AWS's Marker / MaxItems / IsTruncated pagination over store tables.

use gatehouse_store::Table;
use serde::Deserialize;

use crate::errors::{Result, validation};
use crate::records::Records;

/// AWS's default page size for IAM list calls.
pub const DEFAULT_MAX_ITEMS: usize = 100;

/// One page of a listing and the marker for the next, if the listing was truncated.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_marker: Option<String>,
}

impl<T> Page<T> {
    pub fn is_truncated(&self) -> bool {
        self.next_marker.is_some()
    }
}

/// Markers are opaque to clients: the hex form of the last key returned.
fn encode_marker(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_marker(marker: &str) -> Result<String> {
    let invalid = || validation("Invalid Marker.");
    if !marker.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes = (0..marker.len() / 2)
        .map(|i| {
            marker
                .get(2 * i..2 * i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(invalid)?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

pub fn page_size(max_items: Option<i32>) -> usize {
    max_items
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_MAX_ITEMS)
}

/// Reads one page of `table` under `prefix`, keeping only records that pass `keep`.
pub fn paginate<R: Records + ?Sized, T: for<'de> Deserialize<'de>>(
    txn: &mut R,
    table: Table,
    prefix: &str,
    marker: Option<&str>,
    max_items: Option<i32>,
    keep: impl Fn(&T) -> bool,
) -> Result<Page<T>> {
    let want = page_size(max_items);
    let mut after = marker.map(decode_marker).transpose()?;
    let mut items: Vec<(String, T)> = Vec::new();
    const BATCH: usize = 256;
    loop {
        let batch: Vec<(String, T)> = txn.scan_json(table, prefix, after.as_deref(), BATCH)?;
        let exhausted = batch.len() < BATCH;
        after = batch.last().map(|(k, _)| k.clone()).or(after);
        items.extend(batch.into_iter().filter(|(_, v)| keep(v)));
        if items.len() > want || exhausted {
            break;
        }
    }
    let truncated = items.len() > want;
    items.truncate(want);
    let next_marker = if truncated {
        items.last().map(|(k, _)| encode_marker(k))
    } else {
        None
    };
    Ok(Page {
        items: items.into_iter().map(|(_, v)| v).collect(),
        next_marker,
    })
}

/// Pages through a list that is already in memory (such as a user's tags).
pub fn paginate_vec<T>(
    all: Vec<T>,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<T>> {
    let want = page_size(max_items);
    let start = match marker {
        Some(m) => decode_marker(m)?
            .parse::<usize>()
            .map_err(|_| validation("Invalid Marker."))?,
        None => 0,
    };
    let total = all.len();
    let items: Vec<T> = all.into_iter().skip(start).take(want).collect();
    let next = start + items.len();
    let next_marker = (next < total).then(|| encode_marker(&next.to_string()));
    Ok(Page { items, next_marker })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_and_reject_garbage() {
        assert_eq!(decode_marker(&encode_marker("bob/é")).unwrap(), "bob/é");
        assert!(decode_marker("zz").is_err());
        assert!(decode_marker("abc").is_err());
    }

    #[test]
    fn in_memory_pages_cover_everything_once() {
        let all: Vec<u32> = (0..7).collect();
        let first = paginate_vec(all.clone(), None, Some(3)).unwrap();
        assert_eq!(first.items, [0, 1, 2]);
        let second = paginate_vec(all.clone(), first.next_marker.as_deref(), Some(3)).unwrap();
        assert_eq!(second.items, [3, 4, 5]);
        let third = paginate_vec(all, second.next_marker.as_deref(), Some(3)).unwrap();
        assert_eq!(third.items, [6]);
        assert!(!third.is_truncated());
    }
}
