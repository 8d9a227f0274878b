//! Prometheus metrics: requests by service, operation and outcome, and a latency histogram.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
];

#[derive(Default)]
pub struct Metrics {
    /// (service, operation, outcome) → count. Outcome is `ok` or the AWS error code, so the
    /// label set stays bounded by the model.
    requests: Mutex<BTreeMap<(&'static str, String, String), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    pub fn record(&self, service: &'static str, operation: &str, outcome: &str, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((service, operation.to_string(), outcome.to_string()))
                .or_default() += 1;
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
        if let Ok(requests) = self.requests.lock() {
            for ((service, operation, outcome), n) in requests.iter() {
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
        let m = Metrics::default();
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
        assert!(text.contains("operation=\"Bad_Op_\",outcome=\"InvalidAction\"} 1\n"));
        assert!(text.contains("gatehouse_request_duration_seconds_bucket{le=\"0.00025\"} 1\n"));
        assert!(text.contains("gatehouse_request_duration_seconds_bucket{le=\"0.005\"} 3\n"));
        assert!(text.contains("gatehouse_request_duration_seconds_count 3\n"));
    }
}
