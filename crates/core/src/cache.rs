//! What the hot path reads from the store, kept while the store's generation stays the same.
//!
//! Every committed write changes the generation, and a value is stored with the generation read
//! *before* it was loaded, so a cache can never serve something older than the last write it
//! could have seen. That keeps several nodes correct as long as their store's generation
//! reflects every node's writes (see `gatehouse_store::Store::generation`).

use std::collections::HashMap;
use std::sync::RwLock;

/// Entries kept before the cache starts over.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct ReadCache<V> {
    // Hits vastly outnumber loads: readers must not wait for each other.
    state: RwLock<State<V>>,
}

struct State<V> {
    generation: u64,
    entries: HashMap<String, V>,
}

impl<V> Default for ReadCache<V> {
    fn default() -> Self {
        ReadCache {
            state: RwLock::new(State {
                generation: 0,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<V: Clone> ReadCache<V> {
    /// The value for `key` at `generation`, loading (and keeping) it if it isn't cached.
    pub(crate) fn get_or_load<E>(
        &self,
        generation: u64,
        key: &str,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        if let Ok(state) = self.state.read()
            && state.generation == generation
            && let Some(value) = state.entries.get(key)
        {
            return Ok(value.clone());
        }
        let value = load()?;
        if let Ok(mut state) = self.state.write() {
            if generation > state.generation {
                state.entries.clear();
                state.generation = generation;
            }
            // A load that began before a newer write finished is not kept.
            if generation == state.generation {
                if state.entries.len() >= MAX_ENTRIES {
                    state.entries.clear();
                }
                state.entries.insert(key.to_string(), value.clone());
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_only_within_a_generation() {
        let cache: ReadCache<u32> = ReadCache::default();
        let load = |v: u32| move || Ok::<_, ()>(v);
        assert_eq!(cache.get_or_load(1, "k", load(10)), Ok(10));
        assert_eq!(
            cache.get_or_load(1, "k", load(99)),
            Ok(10),
            "cached within generation 1"
        );
        assert_eq!(
            cache.get_or_load(2, "k", load(20)),
            Ok(20),
            "a write happened: reload"
        );
        // A slow load from before generation 2 is returned to its caller but not kept.
        assert_eq!(cache.get_or_load(1, "other", load(5)), Ok(5));
        assert_eq!(cache.get_or_load(2, "other", load(6)), Ok(6));
        assert_eq!(cache.get_or_load(2, "k", load(99)), Ok(20));
    }

    #[test]
    fn failed_loads_are_not_kept() {
        let cache: ReadCache<u32> = ReadCache::default();
        assert_eq!(
            cache.get_or_load(1, "k", || Err::<u32, &str>("store down")),
            Err("store down")
        );
        assert_eq!(cache.get_or_load(1, "k", || Ok::<_, &str>(7)), Ok(7));
    }
}
