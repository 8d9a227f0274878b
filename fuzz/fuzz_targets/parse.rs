//! The policy parser never panics, and stays fast, on any input: arbitrary bytes, deeply
//! nested JSON, huge strings, many wildcards.

#![no_main]

use gatehouse_policy::{Policy, PolicyKind, policy_size};
use libfuzzer_sys::fuzz_target;

const KINDS: [PolicyKind; 7] = [
    PolicyKind::Identity,
    PolicyKind::Resource,
    PolicyKind::Trust,
    PolicyKind::PermissionsBoundary,
    PolicyKind::Session,
    PolicyKind::ServiceControl,
    PolicyKind::ResourceControl,
];

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kind = KINDS[usize::from(k) % KINDS.len()];
    let _ = policy_size(text);
    if let Ok(p) = Policy::parse(text, kind) {
        let _ = p.context_keys();
        let _ = p.statement_count();
    }
});
