//! Gatehouse against Cedar, deciding the same requests on equivalent policy sets:
//! `cd bench/policy-vs-cedar && cargo bench`.
//!
//! Sizes: a principal with 10 managed policies of 20 statements (`small`), and 1,000 and
//! 10,000 statements (`1k`, `10k`: 50 and 500 policies of 20). The policies are Gatehouse's own
//! benchmark workload (`crates/policy/benches/workload.rs`); `policy_vs_cedar::translate` turns
//! each IAM statement into one Cedar policy.
//!
//! Two request mixes per size, each of 64 requests decided in turn:
//! - `workload`: the workload's own requests and context (as `cargo bench -p gatehouse-policy`
//!   times them). With 10% Deny statements, the larger sets deny nearly all of them.
//! - `balanced`: requests with varied contexts drawn from the random sample below, about a
//!   third each allowed, explicitly denied and implicitly denied (as far as the sample has
//!   them).
//!
//! Before anything is timed, both engines decide the 64 workload requests and 1,000 random
//! ones (random contexts, keys sometimes absent) and must reach the same outcome through the
//! same statements, with no Cedar evaluation error; the benchmark refuses to run otherwise.
//!
//! What is timed is one decision on a prepared request, by
//! - `gatehouse`: `CompiledPolicySet::authorize(&request)`, the set compiled once into one
//!   index (as a server keeps it between changes);
//! - `gatehouse-uncompiled`: `gatehouse_policy::authorize(&set, &request)`, which walks every
//!   policy of the set (for reference);
//! - `cedar`: `Authorizer::is_authorized(&request, &policies, &entities)`.
//!
//! Building Cedar's request, context and entities is left out, which favours Cedar.

use std::hint::black_box;
use std::time::Duration;

use cedar_policy::Authorizer;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use gatehouse_policy::{CompiledPolicySet, Request, authorize};
use policy_vs_cedar::{
    Case, Mix, Verdict, agree, cedar_context, cedar_entities, cedar_request, sample, translate,
};

#[path = "../../../crates/policy/benches/workload.rs"]
#[allow(dead_code, reason = "the workload serves other benchmarks too")]
mod workload;

/// Random requests decided by both engines before timing, besides the workload's own.
const SAMPLES: usize = 1000;
/// Requests in each timed mix.
const MIX: usize = 64;

/// Up to `MIX` of the cases, taking allowed, explicitly denied and implicitly denied in turn.
fn balanced<'a>(cases: &[Case<'a>], verdicts: &[Verdict]) -> Vec<Case<'a>> {
    let by = |want: fn(&Verdict) -> bool| {
        cases
            .iter()
            .zip(verdicts)
            .filter(move |(_, v)| want(v))
            .map(|(c, _)| *c)
    };
    let mut allowed = by(|v| matches!(v, Verdict::Allowed(_)));
    let mut explicit = by(|v| matches!(v, Verdict::ExplicitDeny(_)));
    let mut implicit = by(|v| matches!(v, Verdict::ImplicitDeny));
    let mut out = Vec::with_capacity(MIX);
    while out.len() < MIX {
        let before = out.len();
        for c in [allowed.next(), explicit.next(), implicit.next()]
            .into_iter()
            .flatten()
        {
            if out.len() < MIX {
                out.push(c);
            }
        }
        if out.len() == before {
            break;
        }
    }
    out
}

#[expect(
    clippy::expect_used,
    reason = "a comparison the engines do not agree on must not be timed"
)]
fn compare(c: &mut Criterion, group: &str, policies: usize, statements: usize) {
    let w = workload::workload(policies, statements, 42);
    let arn = w.principal.arn();
    let named: Vec<(&str, &str)> = w
        .set
        .identity
        .iter()
        .zip(&w.documents)
        .map(|(p, doc)| (&*p.id, doc.as_str()))
        .collect();
    let t = translate(&named, arn).expect("the workload translates to Cedar");
    let compiled = CompiledPolicySet::new(&w.set);

    let username = arn.rsplit('/').next().unwrap_or_default();
    let random = sample::requests(SAMPLES, 0x5eed, username);
    let contexts: Vec<_> = random.iter().map(|s| s.gatehouse_context()).collect();
    let workload_cases: Vec<Case<'_>> = w
        .requests
        .iter()
        .map(|(a, r)| (a.as_str(), r.as_str(), &w.context))
        .collect();
    let random_cases: Vec<Case<'_>> = random
        .iter()
        .zip(&contexts)
        .map(|(s, c)| (s.action.as_str(), s.resource.as_str(), c))
        .collect();
    let workload_verdicts =
        agree(&w.set, &compiled, &w.principal, &t, &workload_cases).expect("both engines agree");
    let random_verdicts =
        agree(&w.set, &compiled, &w.principal, &t, &random_cases).expect("both engines agree");
    let balanced_cases = balanced(&random_cases, &random_verdicts);
    let balanced_verdicts =
        agree(&w.set, &compiled, &w.principal, &t, &balanced_cases).expect("both engines agree");
    eprintln!(
        "{group}: {} statements = {} Cedar policies; both engines agree on all {} requests \
         ({})\n  timed `workload` mix: {}\n  timed `balanced` mix: {}",
        policies * statements,
        t.policies.policies().count(),
        workload_cases.len() + random_cases.len(),
        Mix::of(workload_verdicts.iter().chain(&random_verdicts)),
        Mix::of(&workload_verdicts),
        Mix::of(&balanced_verdicts),
    );

    let entities = cedar_entities(
        arn,
        workload_cases
            .iter()
            .chain(&balanced_cases)
            .map(|(_, r, _)| *r),
    )
    .expect("cedar entities");
    let authorizer = Authorizer::new();
    let mut g = c.benchmark_group(group);
    for (mix, cases) in [("workload", &workload_cases), ("balanced", &balanced_cases)] {
        let ours: Vec<Request<'_>> = cases
            .iter()
            .map(|&(action, resource, context)| Request {
                principal: &w.principal,
                action,
                resource,
                resource_account: None,
                context,
            })
            .collect();
        let theirs: Vec<cedar_policy::Request> = cases
            .iter()
            .map(|&(action, resource, context)| {
                let ctx = cedar_context(action, &t.condition_keys, |k| context.get(k))?;
                cedar_request(arn, action, resource, ctx)
            })
            .collect::<Result<_, _>>()
            .expect("cedar requests");
        let mut i = 0;
        g.bench_function(BenchmarkId::new("gatehouse", mix), |b| {
            b.iter(|| {
                i = (i + 1) % ours.len();
                black_box(black_box(&compiled).authorize(black_box(&ours[i])))
            })
        });
        let mut i = 0;
        g.bench_function(BenchmarkId::new("gatehouse-uncompiled", mix), |b| {
            b.iter(|| {
                i = (i + 1) % ours.len();
                black_box(authorize(black_box(&w.set), black_box(&ours[i])))
            })
        });
        let mut i = 0;
        g.bench_function(BenchmarkId::new("cedar", mix), |b| {
            b.iter(|| {
                i = (i + 1) % theirs.len();
                black_box(authorizer.is_authorized(
                    black_box(&theirs[i]),
                    black_box(&t.policies),
                    black_box(&entities),
                ))
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    compare(c, "small", 10, 20);
    compare(c, "1k", 50, 20);
    compare(c, "10k", 500, 20);
}

criterion_group! {
    name = vs_cedar;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = benches
}
criterion_main!(vs_cedar);
