//! Prometheus metrics: requests by service, operation and outcome, and a latency histogram.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use gatehouse_types::sharded::Sharded;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

/// (service, outcome) → requests.
type CountsByOutcome = HashMap<(&'static str, &'static str), u64>;

pub struct Metrics {
    /// The operations of the models: anything else a client sends as `Action` is counted as
    /// `unknown`, so clients cannot grow the label set.
    known_operations: HashSet<&'static str>,
    /// Each thread group counts in a share of its own ([`Sharded`]): counting a request takes
    /// a lock no other CPU is taking. `render` adds the shares up.
    shares: Sharded<Mutex<Share>>,
}

#[derive(Default)]
struct Share {
    /// operation → (service, outcome) → count. Outcome is `ok` or the AWS error code, so the
    /// label set stays bounded by the model. Keyed by operation first so that counting a
    /// request allocates nothing once its operation has been seen.
    requests: HashMap<String, CountsByOutcome>,
    /// Cumulative, as Prometheus histograms are.
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_micros: u64,
}

impl Metrics {
    pub fn new(known_operations: impl IntoIterator<Item = &'static str>) -> Self {
        Metrics {
            known_operations: known_operations.into_iter().collect(),
            shares: Sharded::default(),
        }
    }

    pub fn record(
        &self,
        service: &'static str,
        operation: &str,
        outcome: &'static str,
        elapsed: Duration,
    ) {
        let operation = if self.known_operations.contains(operation) {
            operation
        } else {
            "unknown"
        };
        // Counting is a few additions: a panic cannot leave a share half-updated in a way
        // that matters, so a poisoned lock is used as it is.
        let mut share = self
            .shares
            .local()
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let by_outcome = match share.requests.get_mut(operation) {
            Some(counts) => counts,
            None => share.requests.entry(operation.to_string()).or_default(),
        };
        *by_outcome.entry((service, outcome)).or_default() += 1;
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in share.buckets.iter_mut().zip(BUCKETS) {
            if secs <= bound {
                *bucket += 1;
            }
        }
        share.count += 1;
        share.sum_micros = share
            .sum_micros
            .saturating_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut sorted: BTreeMap<(&'static str, String, &'static str), u64> = BTreeMap::new();
        let mut buckets = [0u64; BUCKETS.len()];
        let (mut count, mut sum_micros) = (0u64, 0u64);
        for share in self.shares.all() {
            let share = share.lock().unwrap_or_else(PoisonError::into_inner);
            for (op, counts) in &share.requests {
                for ((service, outcome), n) in counts {
                    *sorted.entry((*service, op.clone(), *outcome)).or_default() += n;
                }
            }
            for (total, n) in buckets.iter_mut().zip(share.buckets) {
                *total += n;
            }
            count += share.count;
            sum_micros = sum_micros.saturating_add(share.sum_micros);
        }
        let mut out = String::new();
        out.push_str("# HELP gatehouse_requests_total API requests answered, by service, operation and outcome.\n");
        out.push_str("# TYPE gatehouse_requests_total counter\n");
        for ((service, operation, outcome), n) in &sorted {
            let _ = writeln!(
                out,
                "gatehouse_requests_total{{service=\"{service}\",operation=\"{}\",outcome=\"{}\"}} {n}",
                label(operation),
                label(outcome)
            );
        }
        out.push_str(
            "# HELP gatehouse_request_duration_seconds Time from a full request to its response.\n",
        );
        out.push_str("# TYPE gatehouse_request_duration_seconds histogram\n");
        for (n, bound) in buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_bucket{{le=\"{bound}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "gatehouse_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = sum_micros as f64 / 1e6;
        let _ = writeln!(out, "gatehouse_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "gatehouse_request_duration_seconds_count {count}");
        out
    }
}

/// Label values come from the client (an unknown Action): keep them printable and short.
fn label(value: &str) -> String {
    value
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::new(["GetUser"]);
        m.record("iam", "GetUser", "ok", Duration::from_micros(200));
        m.record("iam", "GetUser", "ok", Duration::from_millis(3));
        m.record(
            "iam",
            "Bad\"Op\n",
            "InvalidAction",
            Duration::from_millis(3),
        );
        let text = m.render();
        assert!(text.contains(
            "gatehouse_requests_total{service=\"iam\",operation=\"GetUser\",outcome=\"ok\"} 2\n"
        ));
        assert!(text.contains("operation=\"unknown\",outcome=\"InvalidAction\"} 1\n"));
        assert!(text.contains("gatehouse_request_duration_seconds_bucket{le=\"0.00025\"} 1\n"));
        assert!(text.contains("gatehouse_request_duration_seconds_bucket{le=\"0.005\"} 3\n"));
        assert!(text.contains("gatehouse_request_duration_seconds_count 3\n"));
    }

    #[test]
    fn counts_from_many_threads_add_up() {
        let m = Metrics::new(["GetUser"]);
        std::thread::scope(|scope| {
            for _ in 0..12 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        m.record("iam", "GetUser", "ok", Duration::from_micros(50));
                    }
                });
            }
        });
        let text = m.render();
        assert!(
            text.contains("operation=\"GetUser\",outcome=\"ok\"} 1200\n"),
            "{text}"
        );
        assert!(text.contains("gatehouse_request_duration_seconds_bucket{le=\"0.0001\"} 1200\n"));
        assert!(text.contains("gatehouse_request_duration_seconds_count 1200\n"));
    }
}
