//! Both engines reach the same decisions on the workload (the benchmark checks this too, for
//! every size, before timing).

use gatehouse_policy::CompiledPolicySet;
use policy_vs_cedar::{Case, Mix, agree, sample, translate};

#[path = "../../../crates/policy/benches/workload.rs"]
#[allow(dead_code, reason = "the workload serves other benchmarks too")]
mod workload;

#[test]
fn gatehouse_and_cedar_agree_on_the_workload() {
    for (policies, statements, seed) in [(10, 20, 42), (50, 20, 42), (10, 20, 7)] {
        let w = workload::workload(policies, statements, seed);
        let named: Vec<(&str, &str)> = w
            .set
            .identity
            .iter()
            .zip(&w.documents)
            .map(|(p, doc)| (&*p.id, doc.as_str()))
            .collect();
        let t = translate(&named, w.principal.arn()).unwrap();
        let random = sample::requests(1000, seed, "alice");
        let contexts: Vec<_> = random.iter().map(|s| s.gatehouse_context()).collect();
        let cases: Vec<Case<'_>> = w
            .requests
            .iter()
            .map(|(a, r)| (a.as_str(), r.as_str(), &w.context))
            .chain(
                random
                    .iter()
                    .zip(&contexts)
                    .map(|(s, c)| (s.action.as_str(), s.resource.as_str(), c)),
            )
            .collect();
        let verdicts = agree(
            &w.set,
            &CompiledPolicySet::new(&w.set),
            &w.principal,
            &t,
            &cases,
        )
        .unwrap();
        // Every outcome occurs, so agreement means something.
        let mix = Mix::of(&verdicts);
        eprintln!("{policies}x{statements} seed {seed}: {mix}");
        assert!(
            mix.allowed > 0 && mix.explicit_deny > 0 && mix.implicit_deny > 0,
            "{mix}"
        );
    }
}
