//! State kept once per group of threads, so that threads on different CPUs do not write the
//! same cache line on every request.
//!
//! A lock or counter shared by every thread costs little on one CPU and a great deal on
//! several: each acquisition moves the line holding it from one CPU's cache to the other's.
//! `Sharded<T>` holds [`SHARDS`] copies of `T`, each on cache lines of its own; a thread always
//! uses the same copy (assigned in turn when the thread first asks). What a copy holds must therefore be something
//! any copy may hold on its own: a cache of derived or validated data, a share of a count.

use std::sync::atomic::{AtomicUsize, Ordering};

/// Copies kept. The first threads to ask (the start-up thread, the workers, the first
/// blocking-pool threads) each get one of their own; past eight, threads share copies
/// (correct, just slower). Each copy is bounded by its owner, so memory grows with this number.
pub const SHARDS: usize = 8;

/// Keeps a copy on lines of its own (128 bytes: two lines, as adjacent-line prefetch pairs
/// them on x86).
#[repr(align(128))]
struct Padded<T>(T);

pub struct Sharded<T> {
    shards: [Padded<T>; SHARDS],
}

impl<T> Sharded<T> {
    pub fn new(mut make: impl FnMut() -> T) -> Self {
        Sharded {
            shards: std::array::from_fn(|_| Padded(make())),
        }
    }

    /// The calling thread's copy.
    pub fn local(&self) -> &T {
        &self.shards[thread_shard()].0
    }

    /// Every copy, to sum or clear them.
    pub fn all(&self) -> impl Iterator<Item = &T> {
        self.shards.iter().map(|p| &p.0)
    }
}

impl<T: Default> Default for Sharded<T> {
    fn default() -> Self {
        Sharded::new(T::default)
    }
}

/// The calling thread's shard index, assigned in turn on first use.
pub fn thread_shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_thread_keeps_its_copy_and_every_copy_counts() {
        let counts: Sharded<AtomicU64> = Sharded::default();
        counts.local().fetch_add(1, Ordering::Relaxed);
        counts.local().fetch_add(1, Ordering::Relaxed);
        assert_eq!(counts.local().load(Ordering::Relaxed), 2);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let first = thread_shard();
                counts.local().fetch_add(1, Ordering::Relaxed);
                assert_eq!(thread_shard(), first, "a thread keeps its shard");
            });
        });
        let total: u64 = counts.all().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 3);
    }

    #[test]
    fn copies_sit_on_lines_of_their_own() {
        let s: Sharded<u8> = Sharded::default();
        let a = std::ptr::from_ref(&s.shards[0]) as usize;
        let b = std::ptr::from_ref(&s.shards[1]) as usize;
        assert_eq!(b - a, 128);
    }
}
