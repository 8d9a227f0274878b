//! A policy set compiled once into one index across all its policies.
//!
//! Every statement of the set is filed under the literal prefix its resources start with
//! (the text before the first wildcard or variable, common to all its `Resource` patterns;
//! empty for `*`, `NotResource` and trust policies); prefixes with many statements are split
//! the same way by the literal suffix their resources end with; and each (prefix, suffix)
//! bucket keeps an [`ActionIndex`] per effect (service prefix, literal action names, wildcard
//! names, and an always-check list for `NotAction` and wildcard services). The distinct
//! prefixes (and suffixes) are kept sorted, each linked to its longest proper prefix in the
//! table, so a request's resource finds every prefix it starts with by one binary search and a
//! walk up the links. A decision therefore examines only the statements whose resource prefix,
//! suffix and action index entry fit the request.
//!
//! Deny statements are evaluated first. When one applies, the outcome is an explicit deny and
//! the allow statements matter only for the per-type decisions (a type without a deny still
//! reports whether it allows) and for `missing_context`: if the context has every key the
//! allow statements of the request's buckets look up, they cannot add a missing key, so allow
//! statements are only evaluated for types that have neither a deny nor an allow yet.

use crate::eval::{
    Applies, Evaluator, Tallies, Tally, conclude, ordinal, org_decision, with_action_key,
};
use crate::pattern::cmp_bytes;
use crate::policy::{ActionIndex, Effect, Need, Statement};
use crate::request::Request;
use crate::{Decision, NamedPolicy, PolicySet, TypeDecision};

/// The policy type a policy of the set belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Scp(u32),
    Rcp(u32),
    Resource,
    Identity,
    Boundary,
    Session,
}

/// One policy of the set, at its position in decision order.
#[derive(Debug, Clone)]
struct Slot {
    group: Group,
    policy: NamedPolicy,
}

/// A statement of the set: its policy's slot and its index in the policy.
#[derive(Debug, Clone, Copy)]
struct StatementRef {
    slot: u32,
    index: u32,
}

/// A sorted table of distinct byte strings (prefixes, or suffixes stored reversed), each
/// linked to its longest proper prefix in the table, so that every entry a text starts with
/// (or ends with) is found by one binary search and a walk up the links.
#[derive(Debug, Clone, Default)]
struct AffixTable {
    /// `(start, end, parent)`: the bytes in `arena`, the link (`u32::MAX` for the first
    /// entry, which is always the empty string).
    nodes: Vec<(u32, u32, u32)>,
    arena: Box<[u8]>,
    /// Entries are suffixes, stored reversed and compared with the text from its end.
    reversed: bool,
}

impl AffixTable {
    /// Builds the table of `keys`, which must be sorted (reversed keys for a suffix table),
    /// distinct, and start with the empty string.
    fn new(keys: &[&[u8]], reversed: bool) -> Self {
        let mut arena: Vec<u8> = Vec::new();
        let mut nodes: Vec<(u32, u32, u32)> = Vec::with_capacity(keys.len());
        // In sorted order, the prefixes of an entry are the entry before it or among that
        // entry's prefixes: keep that chain on a stack.
        let mut chain: Vec<usize> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            while let Some(&top) = chain.last() {
                let t = keys.get(top).copied().unwrap_or_default();
                if key.len() > t.len() && key.starts_with(t) {
                    break;
                }
                chain.pop();
            }
            let start = arena.len() as u32;
            arena.extend_from_slice(key);
            let parent = chain.last().map_or(u32::MAX, |&p| p as u32);
            nodes.push((start, arena.len() as u32, parent));
            chain.push(i);
        }
        AffixTable {
            nodes,
            arena: arena.into(),
            reversed,
        }
    }

    fn key(&self, i: u32) -> &[u8] {
        self.nodes
            .get(i as usize)
            .and_then(|&(start, end, _)| self.arena.get(start as usize..end as usize))
            .unwrap_or_default()
    }

    /// The index of the longest entry `text` starts with (ends with, if reversed).
    fn deepest(&self, text: &[u8]) -> u32 {
        if self.nodes.len() <= 1 {
            return 0;
        }
        let entry = |&(s, e, _): &(u32, u32, u32)| -> &[u8] {
            self.arena.get(s as usize..e as usize).unwrap_or_default()
        };
        let (at, common) = if self.reversed {
            let at = self
                .nodes
                .partition_point(|n| cmp_rev(entry(n), text).is_le());
            let last = self.key(at.saturating_sub(1) as u32);
            let common = last
                .iter()
                .zip(text.iter().rev())
                .take_while(|(a, b)| a == b)
                .count();
            (at, common)
        } else {
            let at = self
                .nodes
                .partition_point(|n| cmp_bytes(entry(n), text).is_le());
            let last = self.key(at.saturating_sub(1) as u32);
            let common = last.iter().zip(text).take_while(|(a, b)| a == b).count();
            (at, common)
        };
        // Every entry the text starts with is a prefix of the last entry not after it; those
        // longer than their common part are not.
        let mut i = at.saturating_sub(1) as u32;
        while let Some(&(start, end, parent)) = self.nodes.get(i as usize) {
            if (end - start) as usize <= common {
                break;
            }
            i = parent;
        }
        i
    }

    /// The entry `from` and the entries it starts with, longest first.
    fn chain(&self, from: u32) -> impl Iterator<Item = u32> + '_ {
        std::iter::successors(self.nodes.get(from as usize).map(|_| from), |&i| {
            self.nodes
                .get(i as usize)
                .map(|n| n.2)
                .filter(|&p| (p as usize) < self.nodes.len())
        })
    }
}

/// Lexicographic order of `reversed` and `text` read from its end.
#[inline]
fn cmp_rev(reversed: &[u8], text: &[u8]) -> std::cmp::Ordering {
    for (x, y) in reversed.iter().zip(text.iter().rev()) {
        if x != y {
            return x.cmp(y);
        }
    }
    reversed.len().cmp(&text.len())
}

/// The statements of one resource prefix and suffix, by effect and action.
#[derive(Debug, Clone, Default)]
struct Bucket {
    deny: ActionIndex,
    allow: ActionIndex,
    /// The context keys the allow statements look up, with the strictest need of each.
    needs: Vec<(Box<str>, Need)>,
}

/// The statements of one resource prefix, by resource suffix.
#[derive(Debug, Clone, Default)]
struct PrefixNode {
    suffixes: AffixTable,
    /// One per entry of `suffixes`.
    buckets: Vec<Bucket>,
}

/// Prefixes with fewer statements than this keep them in one bucket (tests split even small
/// groups, so the random agreement test exercises suffix tables).
const SUFFIX_TABLE_MIN: usize = if cfg!(test) { 2 } else { 16 };

/// A [`PolicySet`] compiled for many decisions: one index over the statements of all its
/// policies, by resource prefix, effect and action. Build it once when the set changes
/// (`CompiledPolicySet::new` is linear in the set's size) and decide with
/// [`CompiledPolicySet::authorize`], which returns exactly what [`crate::authorize`] returns
/// for the same set and request, at a cost that depends on the statements that can match the
/// request rather than on the size of the set.
///
/// ```
/// use gatehouse_policy::{CompiledPolicySet, Context, NamedPolicy, Outcome, Policy,
///                        PolicyKind, PolicySet, Principal, Request};
///
/// let doc = r#"{"Version": "2012-10-17", "Statement": [{
///     "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"}]}"#;
/// let set = PolicySet {
///     identity: vec![NamedPolicy::new("photos", Policy::parse(doc, PolicyKind::Identity)?)],
///     ..PolicySet::default()
/// };
/// let compiled = CompiledPolicySet::new(&set);
/// let alice = Principal::user("arn:aws:iam::111122223333:user/alice");
/// let context = Context::new();
/// let request = Request {
///     principal: &alice,
///     action: "s3:GetObject",
///     resource: "arn:aws:s3:::photos/cat.jpg",
///     resource_account: None,
///     context: &context,
/// };
/// assert_eq!(compiled.authorize(&request).outcome, Outcome::Allowed);
/// # Ok::<(), gatehouse_policy::PolicyError>(())
/// ```
#[derive(Debug, Clone)]
pub struct CompiledPolicySet {
    set: PolicySet,
    slots: Vec<Slot>,
    statements: Vec<StatementRef>,
    /// Resource prefixes; one [`PrefixNode`] per entry.
    prefixes: AffixTable,
    nodes: Vec<PrefixNode>,
}

impl CompiledPolicySet {
    /// Compiles `set` (its policies are shared, not copied).
    pub fn new(set: &PolicySet) -> Self {
        let mut slots = Vec::new();
        for (level, policies) in set.scps.iter().enumerate() {
            let level = u32::try_from(level).unwrap_or(u32::MAX);
            slots.extend(policies.iter().map(|p| (Group::Scp(level), p)));
        }
        for (level, policies) in set.rcps.iter().enumerate() {
            let level = u32::try_from(level).unwrap_or(u32::MAX);
            slots.extend(policies.iter().map(|p| (Group::Rcp(level), p)));
        }
        slots.extend(set.resource.iter().map(|p| (Group::Resource, p)));
        slots.extend(set.identity.iter().map(|p| (Group::Identity, p)));
        slots.extend(set.boundary.iter().map(|p| (Group::Boundary, p)));
        slots.extend(set.session.iter().map(|p| (Group::Session, p)));
        let slots: Vec<Slot> = slots
            .into_iter()
            .map(|(group, p)| Slot {
                group,
                policy: p.clone(),
            })
            .collect();

        // Every statement, with its resource prefix.
        let mut statements = Vec::new();
        let mut filed: Vec<(&[u8], u32, &Statement)> = Vec::new();
        for (slot, s) in slots.iter().enumerate() {
            for (index, stmt) in s.policy.policy.statements().iter().enumerate() {
                let id = statements.len() as u32;
                statements.push(StatementRef {
                    slot: slot as u32,
                    index: index as u32,
                });
                filed.push((&stmt.resource_prefix, id, stmt));
            }
        }
        filed.sort_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));

        // The prefix table (the empty prefix first), and the statements of each prefix.
        let mut keys: Vec<&[u8]> = vec![b""];
        let mut groups: Vec<Vec<(u32, &Statement)>> = vec![Vec::new()];
        for (prefix, id, stmt) in filed {
            if keys.last() != Some(&prefix) {
                keys.push(prefix);
                groups.push(Vec::new());
            }
            if let Some(g) = groups.last_mut() {
                g.push((id, stmt));
            }
        }
        let prefixes = AffixTable::new(&keys, false);
        let nodes = groups.into_iter().map(PrefixNode::new).collect();

        CompiledPolicySet {
            set: set.clone(),
            slots,
            statements,
            prefixes,
            nodes,
        }
    }

    /// The policy set this was compiled from.
    pub fn policy_set(&self) -> &PolicySet {
        &self.set
    }

    /// Decides a request: the same [`Decision`] as [`crate::authorize`] on
    /// [`policy_set`](Self::policy_set).
    pub fn authorize(&self, req: &Request<'_>) -> Decision {
        with_action_key(req.action, |key| {
            let mut ev = Evaluator::new(&self.set, req, key);
            let applies = Applies::new(&self.set, req.principal.kind());
            let mut state = State::new(&self.set);
            let key = ev.key;

            // The buckets of the resource's prefixes and suffixes, found once (on the stack
            // unless the index nests deeper than usual).
            let mut found: [Option<&Bucket>; 16] = [None; 16];
            let mut count = 0;
            for b in self.buckets(req.resource.as_bytes()) {
                if let Some(slot) = found.get_mut(count) {
                    *slot = Some(b);
                }
                count += 1;
            }
            let spilled: Vec<&Bucket> = if count > found.len() {
                self.buckets(req.resource.as_bytes()).collect()
            } else {
                Vec::new()
            };
            let buckets: &[Option<&Bucket>] = if spilled.is_empty() {
                found.get(..count).unwrap_or_default()
            } else {
                &[]
            };
            let all = || buckets.iter().flatten().chain(&spilled).copied();

            // Deny statements first.
            for bucket in all() {
                if bucket.deny.is_empty() {
                    continue;
                }
                for (id, verified) in bucket.deny.candidates(&key) {
                    let Some((o, group, stmt)) = self.statement(id, &applies) else {
                        continue;
                    };
                    ev.env.begin(o);
                    if ev.check(stmt, verified).is_some() {
                        state.add(group, Effect::Deny, None);
                        ev.hits.push(o, Effect::Deny);
                    }
                }
            }

            // An applicable deny decides the outcome; allow statements then only matter for
            // the decisions of types without a deny, unless they could report missing keys.
            let short =
                state.any_deny && all().all(|b| b.allow.is_empty() || ev.env.satisfies(&b.needs));
            let skip_allows = short && state.all_settled(&self.set, &applies);
            for bucket in all().filter(|_| !skip_allows) {
                if bucket.allow.is_empty() {
                    continue;
                }
                for (id, verified) in bucket.allow.candidates(&key) {
                    let Some((o, group, stmt)) = self.statement(id, &applies) else {
                        continue;
                    };
                    if short && state.settled(group) {
                        continue;
                    }
                    ev.env.begin(o);
                    if let Some(grant) = ev.check(stmt, verified) {
                        state.add(group, Effect::Allow, grant);
                        if !short {
                            ev.hits.push(o, Effect::Allow);
                        }
                    }
                }
            }

            let tallies = state.tallies(&self.set, &applies);
            conclude(&self.set, req, ev, tallies)
        })
    }

    /// The statement `id` if its policy type applies: its ordinal, type and statement.
    fn statement(&self, id: u32, applies: &Applies) -> Option<(u64, Group, &Statement)> {
        let r = self.statements.get(id as usize)?;
        let slot = self.slots.get(r.slot as usize)?;
        let on = match slot.group {
            Group::Scp(_) => applies.scp,
            Group::Rcp(_) => applies.rcp,
            Group::Resource => true,
            Group::Identity | Group::Boundary | Group::Session => applies.iam_identity,
        };
        if !on {
            return None;
        }
        let stmt = slot.policy.policy.statements().get(r.index as usize)?;
        Some((ordinal(r.slot as usize, r.index), slot.group, stmt))
    }

    /// The buckets of every prefix and suffix of `resource` in the index.
    fn buckets<'s>(&'s self, resource: &'s [u8]) -> impl Iterator<Item = &'s Bucket> + 's {
        self.prefixes
            .chain(self.prefixes.deepest(resource))
            .filter_map(|p| self.nodes.get(p as usize))
            .flat_map(move |node| {
                node.suffixes
                    .chain(node.suffixes.deepest(resource))
                    .filter_map(|s| node.buckets.get(s as usize))
            })
    }
}

impl PrefixNode {
    /// Files the statements of one prefix by suffix (all in one bucket when they are few).
    fn new(members: Vec<(u32, &Statement)>) -> Self {
        let suffix_of = |s: &Statement| -> Vec<u8> {
            if members.len() < SUFFIX_TABLE_MIN {
                Vec::new()
            } else {
                s.resource_suffix.iter().rev().copied().collect()
            }
        };
        let mut filed: Vec<(Vec<u8>, u32, &Statement)> = members
            .iter()
            .map(|&(id, s)| (suffix_of(s), id, s))
            .collect();
        filed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut keys: Vec<&[u8]> = vec![b""];
        let mut groups: Vec<Vec<(u32, &Statement)>> = vec![Vec::new()];
        for (suffix, id, stmt) in &filed {
            if keys.last() != Some(&suffix.as_slice()) {
                keys.push(suffix);
                groups.push(Vec::new());
            }
            if let Some(g) = groups.last_mut() {
                g.push((*id, *stmt));
            }
        }
        let buckets = groups
            .into_iter()
            .map(|members| {
                let of = |effect: Effect| {
                    ActionIndex::build(
                        members
                            .iter()
                            .filter(move |(_, s)| s.effect == effect)
                            .map(|&(id, s)| (id, s)),
                    )
                };
                let mut needs: Vec<(Box<str>, Need)> = Vec::new();
                let allows = members.iter().filter(|(_, s)| s.effect == Effect::Allow);
                for (key, need) in allows.flat_map(|(_, s)| s.lookups()) {
                    match needs.iter_mut().find(|(k, _)| &**k == key) {
                        Some(entry) => entry.1 = entry.1.max(need),
                        None => needs.push((key.into(), need)),
                    }
                }
                Bucket {
                    deny: of(Effect::Deny),
                    allow: of(Effect::Allow),
                    needs,
                }
            })
            .collect();
        PrefixNode {
            suffixes: AffixTable::new(&keys, true),
            buckets,
        }
    }
}

/// Which organization levels allowed, as bits (a vector past 64 levels).
#[derive(Debug)]
enum Levels {
    Small(u64),
    Large(Vec<bool>),
}

impl Levels {
    fn new(count: usize) -> Self {
        if count <= 64 {
            Levels::Small(0)
        } else {
            Levels::Large(vec![false; count])
        }
    }

    fn set(&mut self, level: u32) {
        match self {
            Levels::Small(bits) => *bits |= 1u64.checked_shl(level).unwrap_or(0),
            Levels::Large(v) => {
                if let Some(b) = v.get_mut(level as usize) {
                    *b = true;
                }
            }
        }
    }

    fn get(&self, level: u32) -> bool {
        match self {
            Levels::Small(bits) => bits & 1u64.checked_shl(level).unwrap_or(0) != 0,
            Levels::Large(v) => v.get(level as usize).copied().unwrap_or(false),
        }
    }

    fn all(&self, count: usize) -> bool {
        (0..count).all(|l| self.get(l as u32))
    }
}

/// What the statements seen so far concluded, per policy type.
struct State {
    any_deny: bool,
    scp_allow: Levels,
    scp_deny: bool,
    rcp_allow: Levels,
    rcp_deny: bool,
    resource: Tally,
    identity: Tally,
    boundary: Tally,
    session: Tally,
}

impl State {
    fn new(set: &PolicySet) -> Self {
        State {
            any_deny: false,
            scp_allow: Levels::new(set.scps.len()),
            scp_deny: false,
            rcp_allow: Levels::new(set.rcps.len()),
            rcp_deny: false,
            resource: Tally::default(),
            identity: Tally::default(),
            boundary: Tally::default(),
            session: Tally::default(),
        }
    }

    fn add(&mut self, group: Group, effect: Effect, grant: Option<crate::eval::Grant>) {
        self.any_deny |= effect == Effect::Deny;
        match (group, effect) {
            (Group::Scp(_), Effect::Deny) => self.scp_deny = true,
            (Group::Scp(l), Effect::Allow) => self.scp_allow.set(l),
            (Group::Rcp(_), Effect::Deny) => self.rcp_deny = true,
            (Group::Rcp(l), Effect::Allow) => self.rcp_allow.set(l),
            (Group::Resource, _) => self.resource.add(effect, grant),
            (Group::Identity, _) => self.identity.add(effect, grant),
            (Group::Boundary, _) => self.boundary.add(effect, grant),
            (Group::Session, _) => self.session.add(effect, grant),
        }
    }

    /// Whether another allow statement of `group` could change its type's decision, once a
    /// deny decided the outcome.
    fn settled(&self, group: Group) -> bool {
        match group {
            Group::Scp(l) => self.scp_deny || self.scp_allow.get(l),
            Group::Rcp(l) => self.rcp_deny || self.rcp_allow.get(l),
            Group::Resource => self.resource.deny || self.resource.allow,
            Group::Identity => self.identity.deny || self.identity.allow,
            Group::Boundary => self.boundary.deny || self.boundary.allow,
            Group::Session => self.session.deny || self.session.allow,
        }
    }

    /// Whether no allow statement could change any applicable type's decision.
    fn all_settled(&self, set: &PolicySet, applies: &Applies) -> bool {
        let t = |t: &Tally| t.deny || t.allow;
        let iam = applies.iam_identity;
        (!applies.scp || self.scp_deny || self.scp_allow.all(set.scps.len()))
            && (!applies.rcp || self.rcp_deny || self.rcp_allow.all(set.rcps.len()))
            && (set.resource.is_none() || t(&self.resource))
            && (!iam || t(&self.identity))
            && (!iam || set.boundary.is_none() || t(&self.boundary))
            && (!iam || set.session.is_empty() || t(&self.session))
    }

    fn tallies(&self, set: &PolicySet, applies: &Applies) -> Tallies {
        let iam = applies.iam_identity;
        Tallies {
            scp: if applies.scp {
                org_decision(self.scp_deny, self.scp_allow.all(set.scps.len()))
            } else {
                TypeDecision::NotApplicable
            },
            rcp: if applies.rcp {
                org_decision(self.rcp_deny, self.rcp_allow.all(set.rcps.len()))
            } else {
                TypeDecision::NotApplicable
            },
            resource: set.resource.is_some().then_some(self.resource),
            identity: iam.then_some(self.identity),
            boundary: (iam && set.boundary.is_some()).then_some(self.boundary),
            session: (iam && !set.session.is_empty()).then_some(self.session),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, Policy, PolicyKind, Principal, PrincipalKind, authorize};

    /// xorshift64*: reproducible random policy sets.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len())]
        }
        fn chance(&mut self, one_in: usize) -> bool {
            self.below(one_in) == 0
        }
    }

    const ACTIONS: &[&str] = &[
        "s3:GetObject",
        "s3:Get*",
        "s3:*",
        "*",
        "ec2:Describe*",
        "iam:PassRole",
        "s*:List*",
        "S3:getobject",
        "kms:Decrypt",
        "sts:AssumeRole",
        "s3:?utObject",
        "*:GetObject",
    ];
    const REQUEST_ACTIONS: &[&str] = &[
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "ec2:DescribeInstances",
        "iam:PassRole",
        "kms:Decrypt",
        "sts:AssumeRole",
        "sqs:ListQueues",
    ];
    const RESOURCES: &[&str] = &[
        "*",
        "arn:aws:s3:::b1",
        "arn:aws:s3:::b1/*",
        "arn:aws:s3:::b*",
        "arn:aws:s3:::b1/${aws:username}/*",
        "arn:aws:s3:::${aws:PrincipalTag/team}/*",
        "arn:aws:s3:::b1/${aws:PrincipalTag/team, 'none'}*",
        "arn:aws:ec2:*:111122223333:instance/*",
        "arn:aws:iam::111122223333:role/r?",
        "arn:aws:s3:::b2/x",
        "arn:aws:s3:::b1/alice/*",
        "arn:aws:s3:::b1/${*}",
        "arn:aws:kms:us-east-1:111122223333:key/*",
        "arn:aws:ec2:*:*:instance/*",
        "arn:aws:ec2:*:111122223333:volume/*",
        "arn:aws:ec2:*:111122223333:instance/i-1",
        "arn:aws:ec2:*:111122223333:*",
        "arn:aws:kms:*:111122223333:key/k1",
    ];
    const REQUEST_RESOURCES: &[&str] = &[
        "arn:aws:s3:::b1",
        "arn:aws:s3:::b1/alice/k",
        "arn:aws:s3:::b1/*",
        "arn:aws:s3:::b2/x",
        "arn:aws:s3:::team-7/k",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-1",
        "arn:aws:iam::111122223333:role/r1",
        "arn:aws:kms:us-east-1:111122223333:key/k1",
        "arn:aws:s3:::b",
        "",
        "arn:aws:ec2:eu-west-1:111122223333:instance/i-1",
        "arn:aws:ec2:us-east-1:111122223333:volume/v-1",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-1",
        "arn:aws:ec2::111122223333:instance/i-1",
        "arn:aws:ec2:us-east-1:111122223333",
    ];
    const CONDITIONS: &[&str] = &[
        "",
        "",
        r#", "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}"#,
        r#", "Condition": {"Bool": {"aws:SecureTransport": "true"}}"#,
        r#", "Condition": {"Null": {"aws:TokenIssueTime": "true"}}"#,
        r#", "Condition": {"StringLike": {"aws:PrincipalTag/team": "team-*"}}"#,
        r#", "Condition": {"StringEquals": {"s3:prefix": "${aws:username}/"}}"#,
        r#", "Condition": {"NumericLessThan": {"s3:max-keys": "10"}, "StringNotEquals": {"aws:Extra": "x"}}"#,
        r#", "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}"#,
    ];
    const PRINCIPALS: &[&str] = &[
        r#""*""#,
        r#"{"AWS": "111122223333"}"#,
        r#"{"AWS": "arn:aws:iam::111122223333:user/alice"}"#,
        r#"{"AWS": "arn:aws:iam::111122223333:role/r1"}"#,
        r#"{"AWS": "arn:aws:sts::111122223333:assumed-role/r1/s"}"#,
        r#"{"Service": "lambda.amazonaws.com"}"#,
        r#"{"AWS": ["arn:aws:iam::444455556666:root", "arn:aws:iam::111122223333:user/bob"]}"#,
    ];

    fn list(rng: &mut Rng, from: &[&str]) -> String {
        let n = 1 + rng.below(3);
        let items: Vec<String> = (0..n).map(|_| format!("\"{}\"", rng.pick(from))).collect();
        format!("[{}]", items.join(", "))
    }

    fn statement(rng: &mut Rng, kind: PolicyKind, i: usize) -> String {
        let effect = if rng.chance(3) { "Deny" } else { "Allow" };
        let action = if rng.chance(8) { "NotAction" } else { "Action" };
        let mut s = format!(
            r#"{{"Sid": "S{i}", "Effect": "{effect}", "{action}": {}"#,
            list(rng, ACTIONS)
        );
        if kind != PolicyKind::Trust {
            let resource = if rng.chance(8) {
                "NotResource"
            } else {
                "Resource"
            };
            s += &format!(r#", "{resource}": {}"#, list(rng, RESOURCES));
        }
        if matches!(
            kind,
            PolicyKind::Resource | PolicyKind::Trust | PolicyKind::ResourceControl
        ) {
            let not = kind == PolicyKind::Resource && rng.chance(6);
            let element = if not { "NotPrincipal" } else { "Principal" };
            let p = if not {
                rng.pick(&PRINCIPALS[1..])
            } else {
                rng.pick(PRINCIPALS)
            };
            s += &format!(r#", "{element}": {p}"#);
        }
        s += rng.pick(CONDITIONS);
        s + "}"
    }

    fn policy(rng: &mut Rng, kind: PolicyKind, id: &str) -> Option<NamedPolicy> {
        let n = 1 + rng.below(6);
        let stmts: Vec<String> = (0..n).map(|i| statement(rng, kind, i)).collect();
        let version = if rng.chance(10) {
            "2008-10-17"
        } else {
            "2012-10-17"
        };
        let doc = format!(
            r#"{{"Version": "{version}", "Statement": [{}]}}"#,
            stmts.join(", ")
        );
        Some(NamedPolicy::new(id, Policy::parse(&doc, kind).ok()?))
    }

    fn policies(rng: &mut Rng, kind: PolicyKind, prefix: &str, max: usize) -> Vec<NamedPolicy> {
        (0..rng.below(max + 1))
            .filter_map(|i| policy(rng, kind, &format!("{prefix}{i}")))
            .collect()
    }

    fn random_set(rng: &mut Rng) -> PolicySet {
        let resource_kind = if rng.chance(4) {
            PolicyKind::Trust
        } else {
            PolicyKind::Resource
        };
        let levels = |rng: &mut Rng, kind, prefix: &str| {
            (0..rng.below(3))
                .map(|l| policies(rng, kind, &format!("{prefix}{l}-"), 2))
                .collect()
        };
        PolicySet {
            identity: policies(rng, PolicyKind::Identity, "id", 4),
            boundary: if rng.chance(3) {
                policy(rng, PolicyKind::PermissionsBoundary, "boundary")
            } else {
                None
            },
            session: policies(rng, PolicyKind::Session, "session", 1),
            resource: if rng.chance(2) {
                policy(rng, resource_kind, "resource")
            } else {
                None
            },
            scps: levels(rng, PolicyKind::ServiceControl, "scp"),
            rcps: levels(rng, PolicyKind::ResourceControl, "rcp"),
            scps_exempt: rng.chance(5),
            rcps_exempt: rng.chance(5),
        }
    }

    fn principal(rng: &mut Rng) -> Principal {
        match rng.below(7) {
            0 | 1 => Principal::user("arn:aws:iam::111122223333:user/alice"),
            2 => Principal::assumed_role(
                "arn:aws:sts::111122223333:assumed-role/r1/s",
                "arn:aws:iam::111122223333:role/r1",
            ),
            3 => Principal::root("111122223333"),
            4 => Principal::service("lambda.amazonaws.com"),
            5 => Principal::new(
                PrincipalKind::FederatedUser { user_arn: None },
                "arn:aws:sts::111122223333:federated-user/f",
                "111122223333",
            ),
            _ => Principal::anonymous(),
        }
    }

    fn context(rng: &mut Rng) -> Context {
        let mut c = Context::new();
        let keys: &[(&str, &[&[&str]])] = &[
            ("aws:RequestedRegion", &[&["us-east-1"], &["eu-west-1"]]),
            ("aws:SecureTransport", &[&["true"], &["false"]]),
            (
                "aws:PrincipalTag/team",
                &[&["team-7"], &["b1"], &["a", "b"]],
            ),
            ("aws:username", &[&["alice"], &["x", "y"], &[]]),
            ("s3:prefix", &[&["alice/"]]),
            ("s3:max-keys", &[&["5"], &["50"]]),
            ("aws:Extra", &[&["x"]]),
            ("aws:TagKeys", &[&["a"], &[]]),
            ("aws:TokenIssueTime", &[&["2026-01-01T00:00:00Z"]]),
        ];
        for (k, values) in keys {
            // Usually present, so that the deny-first short cut is exercised.
            if !rng.chance(6) {
                c.set(k, values[rng.below(values.len())].iter().copied());
            }
        }
        c
    }

    /// The compiled index decides exactly as `authorize` does, missing keys and their order
    /// included.
    #[test]
    fn compiled_agrees_with_authorize_on_random_sets() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut decided = 0;
        for _ in 0..3000 {
            let set = random_set(&mut rng);
            let compiled = CompiledPolicySet::new(&set);
            for _ in 0..8 {
                let p = principal(&mut rng);
                let ctx = context(&mut rng);
                let req = Request {
                    principal: &p,
                    action: rng.pick(REQUEST_ACTIONS),
                    resource: rng.pick(REQUEST_RESOURCES),
                    resource_account: if rng.chance(5) {
                        Some("444455556666")
                    } else {
                        None
                    },
                    context: &ctx,
                };
                let want = authorize(&set, &req);
                let got = compiled.authorize(&req);
                assert_eq!(got, want, "{set:#?}\n{req:#?}");
                decided += usize::from(!want.matched.is_empty());
            }
        }
        // The generator must produce decisions with reasons, not only implicit denies.
        assert!(decided > 4000, "{decided}");
    }

    #[test]
    fn affix_tables_find_every_prefix_and_suffix() {
        let keys: Vec<&[u8]> = vec![
            b"",
            b"arn:aws:s3:::b",
            b"arn:aws:s3:::b1/",
            b"arn:aws:s3:::b1x",
            b"arn:aws:s3:::c",
        ];
        let t = AffixTable::new(&keys, false);
        let chain = |r: &str| -> Vec<&[u8]> {
            t.chain(t.deepest(r.as_bytes())).map(|i| t.key(i)).collect()
        };
        assert_eq!(
            chain("arn:aws:s3:::b1/k"),
            [&b"arn:aws:s3:::b1/"[..], b"arn:aws:s3:::b", b""]
        );
        assert_eq!(
            chain("arn:aws:s3:::b1x"),
            [&b"arn:aws:s3:::b1x"[..], b"arn:aws:s3:::b", b""]
        );
        assert_eq!(chain("arn:aws:s3:::b1"), [&b"arn:aws:s3:::b"[..], b""]);
        assert_eq!(chain("arn:aws:s3:::d"), [&b""[..]]);
        assert_eq!(chain(""), [&b""[..]]);

        // Suffixes, stored reversed and sorted that way.
        let mut rev: Vec<Vec<u8>> = ["", "-1", "-12", "/x-12", "-2"]
            .iter()
            .map(|s| s.bytes().rev().collect())
            .collect();
        rev.sort();
        let keys: Vec<&[u8]> = rev.iter().map(Vec::as_slice).collect();
        let t = AffixTable::new(&keys, true);
        let chain = |r: &str| -> Vec<String> {
            t.chain(t.deepest(r.as_bytes()))
                .map(|i| t.key(i).iter().rev().map(|&b| b as char).collect())
                .collect()
        };
        assert_eq!(chain("thing/x-12"), ["/x-12", "-12", ""]);
        assert_eq!(chain("thing/y-12"), ["-12", ""]);
        assert_eq!(chain("thing-2"), ["-2", ""]);
        assert_eq!(chain("thing-3"), [""]);
    }

    /// Organizations with more levels than fit in the bit set decide alike.
    #[test]
    fn many_organization_levels() {
        let allow = |id: &str| {
            NamedPolicy::new(
                id,
                Policy::parse(
                    r#"{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}"#,
                    PolicyKind::ServiceControl,
                )
                .unwrap(),
            )
        };
        let id = NamedPolicy::new(
            "id",
            Policy::parse(
                r#"{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}"#,
                PolicyKind::Identity,
            )
            .unwrap(),
        );
        let alice = Principal::user("arn:aws:iam::111122223333:user/alice");
        let ctx = Context::new();
        let req = Request {
            principal: &alice,
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            resource_account: None,
            context: &ctx,
        };
        for levels in [1, 63, 64, 65, 70] {
            for gap in [None, Some(0), Some(levels - 1)] {
                let scps = (0..levels)
                    .map(|l| {
                        if Some(l) == gap {
                            Vec::new()
                        } else {
                            vec![allow(&format!("scp{l}"))]
                        }
                    })
                    .collect();
                let set = PolicySet {
                    identity: vec![id.clone()],
                    scps,
                    ..PolicySet::default()
                };
                let want = authorize(&set, &req);
                assert_eq!(want.is_allowed(), gap.is_none(), "{levels} {gap:?}");
                assert_eq!(CompiledPolicySet::new(&set).authorize(&req), want);
            }
        }
    }

    /// Many statements under one prefix are told apart by their suffixes.
    #[test]
    fn large_prefix_groups_are_split_by_suffix() {
        let stmts: Vec<String> = (0..40)
            .map(|n| {
                format!(
                    r#"{{"Effect": "Allow", "Action": "ec2:*", "Resource": "arn:aws:ec2:*:111122223333:*-{n}"}}"#
                )
            })
            .collect();
        let doc = format!(r#"{{"Statement": [{}]}}"#, stmts.join(","));
        let set = PolicySet {
            identity: vec![NamedPolicy::new(
                "p",
                Policy::parse(&doc, PolicyKind::Identity).unwrap(),
            )],
            ..PolicySet::default()
        };
        let c = CompiledPolicySet::new(&set);
        let resource = "arn:aws:ec2:us-east-1:111122223333:thing/thing-12";
        let key = crate::policy::ActionKey::new(b"ec2", b"runinstances");
        let candidates: Vec<u32> = c
            .buckets(resource.as_bytes())
            .flat_map(|b| b.allow.candidates(&key).map(|(id, _)| id))
            .collect();
        // Only `*-12`, not the other 39.
        assert_eq!(candidates, [12]);
        let alice = Principal::user("arn:aws:iam::111122223333:user/alice");
        let ctx = Context::new();
        let req = Request {
            principal: &alice,
            action: "ec2:RunInstances",
            resource,
            resource_account: None,
            context: &ctx,
        };
        assert_eq!(c.authorize(&req), authorize(&set, &req));
        assert_eq!(c.authorize(&req).matched.len(), 1);
    }
}
