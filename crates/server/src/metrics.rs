//! Prometheus metrics: requests by service, operation and outcome, and a latency histogram.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
    /// operation → (service, outcome) → count. Outcome is `ok` or the AWS error code, so the
    /// label set stays bounded by the model. Keyed by operation first so that counting a
    /// request allocates nothing once its operation has been seen.
    requests: Mutex<HashMap<String, CountsByOutcome>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    pub fn new(known_operations: impl IntoIterator<Item = &'static str>) -> Self {
        Metrics {
            known_operations: known_operations.into_iter().collect(),
            requests: Mutex::default(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
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
        if let Ok(mut requests) = self.requests.lock() {
            let by_outcome = match requests.get_mut(operation) {
                Some(counts) => counts,
                None => requests.entry(operation.to_string()).or_default(),
            };
            *by_outcome.entry((service, outcome)).or_default() += 1;
        }
        let secs = elapsed.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            if secs <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP gatehouse_requests_total API requests answered, by service, operation and outcome.\n");
        out.push_str("# TYPE gatehouse_requests_total counter\n");
        let sorted: BTreeMap<(&'static str, String, &'static str), u64> = match self.requests.lock()
        {
            Ok(requests) => requests
                .iter()
                .flat_map(|(op, counts)| {
                    counts
                        .iter()
                        .map(move |((service, outcome), n)| ((*service, op.clone(), *outcome), *n))
                })
                .collect(),
            Err(_) => BTreeMap::new(),
        };
        {
            for ((service, operation, outcome), n) in sorted.iter() {
                let _ = writeln!(
                    out,
                    "gatehouse_requests_total{{service=\"{service}\",operation=\"{}\",outcome=\"{}\"}} {n}",
                    label(operation),
                    label(outcome)
                );
            }
        }
        out.push_str(
            "# HELP gatehouse_request_duration_seconds Time from a full request to its response.\n",
        );
        out.push_str("# TYPE gatehouse_request_duration_seconds histogram\n");
        for (bucket, bound) in self.buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "gatehouse_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
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
}
