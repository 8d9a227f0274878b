//! Decision cost: `cargo bench -p gatehouse-policy --bench decide`.
//!
//! The workload comes from `workload.rs` ([`workload::workload`]), which other engines (Cedar)
//! can reuse: it returns the policy documents as JSON as well as the compiled set and the
//! requests.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_policy::{CompiledPolicySet, Policy, PolicyKind, Request, authorize};

mod workload;
use workload::workload;

fn bench_decisions(c: &mut Criterion, name: &str, policies: usize, statements: usize) {
    let w = workload(policies, statements, 42);
    let requests: Vec<Request<'_>> = w
        .requests
        .iter()
        .map(|(a, r)| Request {
            principal: &w.principal,
            action: a,
            resource: r,
            resource_account: None,
            context: &w.context,
        })
        .collect();
    let mut i = 0;
    c.bench_function(&format!("decide/{name}"), |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(authorize(black_box(&w.set), black_box(&requests[i])))
        })
    });
    let compiled = CompiledPolicySet::new(&w.set);
    for r in &requests {
        assert_eq!(compiled.authorize(r), authorize(&w.set, r));
    }
    c.bench_function(&format!("compiled/{name}"), |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(compiled.authorize(black_box(&requests[i])))
        })
    });
    c.bench_function(&format!("compile/{name}"), |b| {
        b.iter(|| CompiledPolicySet::new(black_box(&w.set)))
    });
}

/// The compiled set only, at a size where walking every policy takes milliseconds.
fn bench_compiled_only(c: &mut Criterion, name: &str, policies: usize, statements: usize) {
    let w = workload(policies, statements, 42);
    let requests: Vec<Request<'_>> = w
        .requests
        .iter()
        .map(|(a, r)| Request {
            principal: &w.principal,
            action: a,
            resource: r,
            resource_account: None,
            context: &w.context,
        })
        .collect();
    let compiled = CompiledPolicySet::new(&w.set);
    let mut i = 0;
    c.bench_function(&format!("compiled/{name}"), |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(compiled.authorize(black_box(&requests[i])))
        })
    });
}

fn decide(c: &mut Criterion) {
    bench_decisions(c, "10 policies x 20 statements", 10, 20);
    bench_decisions(c, "1,000 statements", 50, 20);
    bench_decisions(c, "10,000 statements", 500, 20);
    bench_compiled_only(c, "100,000 statements", 5000, 20);
    let w = workload(1, 20, 7);
    let doc = &w.documents[0];
    c.bench_function("parse/20-statement policy", |b| {
        b.iter(|| Policy::parse(black_box(doc), PolicyKind::Identity))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = decide
}
criterion_main!(benches);
