//! AWS's Marker / MaxItems / IsTruncated pagination, one way for every list.
//!
//! A marker is opaque to clients: the hex form of the resume key, the key of the last item
//! returned (a store key for stored lists, the item's own key for lists held in a record such
//! as tags, the position for computed lists such as simulation results). A listing resumes
//! strictly after that key.

use crate::errors::{Result, validation};

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

pub fn encode_marker(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn decode_marker(marker: &str) -> Result<String> {
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

/// The request's page: where to resume and how many to return.
pub struct PageRequest {
    pub after: Option<String>,
    pub want: usize,
}

impl PageRequest {
    pub fn new(marker: Option<&str>, max_items: Option<i32>) -> Result<Self> {
        Ok(PageRequest {
            after: marker.map(decode_marker).transpose()?,
            want: page_size(max_items),
        })
    }

    /// Pages a sequence already in key order: items come with their resume keys, and `fetch`
    /// is asked for more until a page is full. `fetch(after, n)` returns up to `n` items after
    /// `after`, fewer only at the end.
    pub fn collect<T>(
        self,
        mut fetch: impl FnMut(Option<&str>, usize) -> Result<Vec<(String, Option<T>)>>,
    ) -> Result<Page<T>> {
        const BATCH: usize = 256;
        let mut after = self.after;
        let mut items: Vec<(String, T)> = Vec::new();
        loop {
            let batch = fetch(after.as_deref(), BATCH)?;
            let exhausted = batch.len() < BATCH;
            if let Some((last, _)) = batch.last() {
                after = Some(last.clone());
            }
            items.extend(batch.into_iter().filter_map(|(k, v)| v.map(|v| (k, v))));
            if items.len() > self.want || exhausted {
                break;
            }
        }
        let truncated = items.len() > self.want;
        items.truncate(self.want);
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

    /// Pages a list held in memory, in its own order; `key` names each item uniquely.
    pub fn of_list<T>(self, all: Vec<T>, key: impl Fn(&T) -> String) -> Result<Page<T>> {
        let start = match &self.after {
            None => 0,
            Some(after) => {
                all.iter()
                    .position(|item| key(item) == *after)
                    .ok_or_else(|| validation("Invalid Marker."))?
                    + 1
            }
        };
        let total = all.len();
        let items: Vec<T> = all.into_iter().skip(start).take(self.want).collect();
        let shown = start + items.len();
        let next_marker = (shown < total)
            .then(|| items.last().map(|item| encode_marker(&key(item))))
            .flatten();
        Ok(Page { items, next_marker })
    }

    /// The positions of one page of a computed list of `total` items, without computing the
    /// others: the work of a request is bounded by its page, not by the list.
    pub fn positions(self, total: usize) -> Result<(std::ops::Range<usize>, Option<String>)> {
        let start = match &self.after {
            None => 0,
            Some(after) => {
                after
                    .parse::<usize>()
                    .ok()
                    .filter(|p| *p < total)
                    .ok_or_else(|| validation("Invalid Marker."))?
                    + 1
            }
        };
        let end = start.saturating_add(self.want).min(total);
        let next_marker =
            (end < total && end > start).then(|| encode_marker(&(end - 1).to_string()));
        Ok((start..end, next_marker))
    }
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
        let key = |n: &u32| n.to_string();
        let page = |marker: Option<&str>| {
            PageRequest::new(marker, Some(3))
                .unwrap()
                .of_list(all.clone(), key)
                .unwrap()
        };
        let first = page(None);
        assert_eq!(first.items, [0, 1, 2]);
        let second = page(first.next_marker.as_deref());
        assert_eq!(second.items, [3, 4, 5]);
        let third = page(second.next_marker.as_deref());
        assert_eq!(third.items, [6]);
        assert!(!third.is_truncated());
        assert!(
            PageRequest::new(Some(&encode_marker("99")), Some(3))
                .unwrap()
                .of_list(all.clone(), key)
                .is_err(),
            "a marker naming no item is refused"
        );
    }

    #[test]
    fn positions_page_a_computed_list() {
        let (range, next) = PageRequest::new(None, Some(100))
            .unwrap()
            .positions(250)
            .unwrap();
        assert_eq!(range, 0..100);
        let (range, next) = PageRequest::new(next.as_deref(), Some(100))
            .unwrap()
            .positions(250)
            .unwrap();
        assert_eq!(range, 100..200);
        let (range, next) = PageRequest::new(next.as_deref(), Some(100))
            .unwrap()
            .positions(250)
            .unwrap();
        assert_eq!((range, next), (200..250, None));
        assert!(
            PageRequest::new(Some(&encode_marker("250")), None)
                .unwrap()
                .positions(250)
                .is_err()
        );
    }

    #[test]
    fn stored_pages_resume_after_the_last_key() {
        let rows: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
        let fetch = |after: Option<&str>, n: usize| {
            Ok(rows
                .iter()
                .filter(|k| after.is_none_or(|a| k.as_str() > a))
                .take(n)
                // odd rows are filtered out by the caller's predicate
                .map(|k| {
                    (
                        k.clone(),
                        k.ends_with(['0', '2', '4', '6', '8']).then(|| k.clone()),
                    )
                })
                .collect())
        };
        let first = PageRequest::new(None, Some(2))
            .unwrap()
            .collect(fetch)
            .unwrap();
        assert_eq!(first.items, ["k0", "k2"]);
        let second = PageRequest::new(first.next_marker.as_deref(), Some(2))
            .unwrap()
            .collect(fetch)
            .unwrap();
        assert_eq!(second.items, ["k4", "k6"]);
        let third = PageRequest::new(second.next_marker.as_deref(), Some(2))
            .unwrap()
            .collect(fetch)
            .unwrap();
        assert_eq!(third.items, ["k8"]);
        assert!(!third.is_truncated());
    }
}
