//! The policy simulator: SimulateCustomPolicy, SimulatePrincipalPolicy and the two
//! GetContextKeysFor… calls. They run the same engine that authorizes every call.

use gatehouse_policy::{
    Context, Decision, NamedPolicy, Outcome, Policy, PolicyKind, PolicySet, Principal,
    PrincipalKind, Request, TypeDecision,
};
use gatehouse_protocol::iam::{
    ContextEntry, EvaluationResult, GetContextKeysForCustomPolicyRequest,
    GetContextKeysForPolicyResponse, GetContextKeysForPrincipalPolicyRequest,
    OrganizationsDecisionDetail, PermissionsBoundaryDecisionDetail, PolicyEvaluationDecisionType,
    PolicySourceType, Position, ResourceSpecificResult, SimulateCustomPolicyRequest,
    SimulatePolicyResponse, SimulatePrincipalPolicyRequest, Statement,
};
use gatehouse_types::Arn;

use crate::authz::parse_policy;
use crate::authz::{Access, Authorized, Holder, PolicySource, gather, gather_for};
use crate::errors::{Result, invalid_input};
use crate::model::entity::{self, Entity};
use crate::model::pagination::PageRequest;
use crate::model::records::{GroupRecord, RoleRecord, UserRecord};
use crate::pipeline::{Call, Handler, Operation, operation};

/// A policy taking part in a simulation: its id as AWS reports it, its type, and its text
/// (for statement positions).
struct Source {
    id: String,
    source_type: PolicySourceType,
    document: String,
    policy: Policy,
}

impl Source {
    fn parse(
        id: String,
        source_type: PolicySourceType,
        document: String,
        kind: PolicyKind,
    ) -> Result<Source> {
        let policy = parse_policy(&document, kind)?;
        Ok(Source {
            id,
            source_type,
            document,
            policy,
        })
    }

    fn named(&self) -> NamedPolicy {
        NamedPolicy::new(self.id.as_str(), self.policy.clone())
    }
}

/// Everything a simulation takes besides the actions and resources.
struct Simulation {
    identity: Vec<Source>,
    boundary: Vec<Source>,
    resource: Option<Source>,
    principal: Principal,
    caller_account: String,
    resource_owner: Option<String>,
    context: Context,
}

fn inputs(
    prefix: &str,
    documents: Vec<String>,
    source_type: PolicySourceType,
    kind: PolicyKind,
) -> Result<Vec<Source>> {
    documents
        .into_iter()
        .enumerate()
        .map(|(i, doc)| Source::parse(format!("{prefix}.{}", i + 1), source_type, doc, kind))
        .collect()
}

fn context_from(entries: Option<Vec<ContextEntry>>) -> Context {
    let mut context = Context::new();
    for entry in entries.unwrap_or_default() {
        if let Some(name) = entry.context_key_name {
            context.set(&name, entry.context_key_values.unwrap_or_default());
        }
    }
    context
}

fn decision_type(outcome: Outcome) -> PolicyEvaluationDecisionType {
    match outcome {
        Outcome::Allowed => PolicyEvaluationDecisionType::Allowed,
        Outcome::ExplicitDeny => PolicyEvaluationDecisionType::ExplicitDeny,
        Outcome::ImplicitDeny => PolicyEvaluationDecisionType::ImplicitDeny,
    }
}

fn type_decision(d: TypeDecision) -> PolicyEvaluationDecisionType {
    match d {
        TypeDecision::Allowed => PolicyEvaluationDecisionType::Allowed,
        TypeDecision::ExplicitDeny => PolicyEvaluationDecisionType::ExplicitDeny,
        _ => PolicyEvaluationDecisionType::ImplicitDeny,
    }
}

impl Simulation {
    fn sources(&self) -> impl Iterator<Item = &Source> {
        self.identity
            .iter()
            .chain(self.boundary.iter())
            .chain(self.resource.iter())
    }

    fn policy_set(&self) -> PolicySet {
        PolicySet {
            identity: self.identity.iter().map(Source::named).collect(),
            boundary: self.boundary.first().map(Source::named),
            resource: self.resource.as_ref().map(Source::named),
            ..PolicySet::default()
        }
    }

    fn statement(&self, policy_id: &str, index: usize) -> Statement {
        let source = self.sources().find(|s| s.id == policy_id);
        let span = source.and_then(|s| statement_span(&s.document, index));
        let position = |(line, column): (usize, usize)| Position {
            line: i32::try_from(line).ok(),
            column: i32::try_from(column).ok(),
        };
        Statement {
            source_policy_id: Some(policy_id.to_string()),
            source_policy_type: source.map(|s| s.source_type),
            start_position: span.map(|(start, _)| position(start)),
            end_position: span.map(|(_, end)| position(end)),
        }
    }

    /// The results at `positions` of the action × resource list (actions outer, resources
    /// inner), computed one by one: a request's work and memory are bounded by its page,
    /// however many pairs it names.
    fn run(
        &self,
        actions: &[String],
        resources: &[String],
        positions: std::ops::Range<usize>,
    ) -> Vec<EvaluationResult> {
        let set = self.policy_set();
        let mut results = Vec::with_capacity(positions.len());
        for position in positions {
            let (Some(action), Some(resource)) = (
                actions.get(position / resources.len().max(1)),
                resources.get(position % resources.len().max(1)),
            ) else {
                break;
            };
            let request = Request {
                principal: &self.principal,
                action,
                resource,
                resource_account: self.resource_owner.as_deref(),
                context: &self.context,
            };
            let decision = gatehouse_policy::authorize(&set, &request);
            results.push(self.result(action, resource, &decision));
        }
        results
    }

    fn result(&self, action: &str, resource: &str, decision: &Decision) -> EvaluationResult {
        let matched: Vec<Statement> = decision
            .matched
            .iter()
            .map(|m| self.statement(&m.policy, m.index))
            .collect();
        let missing = decision.missing_context.clone();
        let boundary_detail =
            (!self.boundary.is_empty()).then(|| PermissionsBoundaryDecisionDetail {
                allowed_by_permissions_boundary: Some(decision.boundary == TypeDecision::Allowed),
            });
        // AWS fills the per-type details only for cross-account simulations.
        let cross_account = self
            .resource_owner
            .as_deref()
            .is_some_and(|owner| owner != self.caller_account);
        let details = (self.resource.is_some() || resource != "*").then(|| {
            if cross_account {
                vec![
                    ("IAM Policy".to_string(), type_decision(decision.identity)),
                    (
                        "Resource Policy".to_string(),
                        type_decision(decision.resource),
                    ),
                ]
            } else {
                Vec::new()
            }
        });
        let outcome = decision_type(decision.outcome);
        EvaluationResult {
            eval_action_name: action.to_string(),
            eval_resource_name: Some(resource.to_string()),
            eval_decision: outcome,
            matched_statements: Some(matched.clone()),
            missing_context_values: Some(missing.clone()),
            organizations_decision_detail: Some(OrganizationsDecisionDetail {
                allowed_by_organizations: Some(
                    decision.scp != TypeDecision::ExplicitDeny
                        && decision.scp != TypeDecision::ImplicitDeny,
                ),
            }),
            permissions_boundary_decision_detail: boundary_detail.clone(),
            eval_decision_details: details.clone(),
            resource_specific_results: Some(vec![ResourceSpecificResult {
                eval_resource_name: resource.to_string(),
                eval_resource_decision: outcome,
                matched_statements: Some(matched),
                missing_context_values: Some(missing),
                eval_decision_details: details,
                permissions_boundary_decision_detail: boundary_detail,
            }]),
        }
    }
}

/// Context keys of several policies, each once (case-insensitively), in order of appearance.
fn union_of_keys<'a>(policies: impl Iterator<Item = &'a Policy>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for policy in policies {
        for key in policy.context_keys() {
            if !keys.iter().any(|k| k.eq_ignore_ascii_case(&key)) {
                keys.push(key);
            }
        }
    }
    keys
}

/// What the two Simulate… calls have in common.
struct SimulationInput {
    policy_input_list: Vec<String>,
    permissions_boundary_policy_input_list: Option<Vec<String>>,
    resource_policy: Option<String>,
    resource_owner: Option<String>,
    context_entries: Option<Vec<ContextEntry>>,
    action_names: Vec<String>,
    resource_arns: Option<Vec<String>>,
    marker: Option<String>,
    max_items: Option<i32>,
}

/// Runs a simulation of `attached` policies (those of a principal, if any) plus the input's,
/// and computes the requested page of its results.
fn simulate(
    account: &str,
    attached: Vec<Source>,
    attached_boundary: Option<Source>,
    principal: Principal,
    input: SimulationInput,
) -> Result<SimulatePolicyResponse> {
    let mut identity = attached;
    identity.extend(inputs(
        "PolicyInputList",
        input.policy_input_list,
        PolicySourceType::None,
        PolicyKind::Identity,
    )?);
    let mut boundary = inputs(
        "PermissionsBoundaryPolicyInputList",
        input
            .permissions_boundary_policy_input_list
            .unwrap_or_default(),
        PolicySourceType::None,
        PolicyKind::PermissionsBoundary,
    )?;
    // A boundary given in the request replaces the principal's own, as in AWS.
    if boundary.is_empty() {
        boundary.extend(attached_boundary);
    }
    let sim = Simulation {
        identity,
        boundary,
        resource: input
            .resource_policy
            .map(|doc| {
                Source::parse(
                    "ResourcePolicy".into(),
                    PolicySourceType::Resource,
                    doc,
                    PolicyKind::Resource,
                )
            })
            .transpose()?,
        principal,
        caller_account: account.to_string(),
        resource_owner: input
            .resource_owner
            .as_deref()
            .map(owner_account)
            .transpose()?,
        context: context_from(input.context_entries),
    };
    let resources = input.resource_arns.unwrap_or_else(|| vec!["*".to_string()]);
    let total = input.action_names.len().saturating_mul(resources.len());
    let (positions, next_marker) =
        PageRequest::new(input.marker.as_deref(), input.max_items)?.positions(total)?;
    let results = sim.run(&input.action_names, &resources, positions);
    Ok(SimulatePolicyResponse {
        evaluation_results: Some(results),
        is_truncated: Some(next_marker.is_some()),
        marker: next_marker,
    })
}

operation!(SimulateCustomPolicy, Iam, reads, SimulateCustomPolicyRequest => SimulatePolicyResponse);
impl Handler for SimulateCustomPolicy {
    type Target = ();

    fn resolve(_: &mut Call<'_>, _: &SimulateCustomPolicyRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &SimulateCustomPolicyRequest,
    ) -> Result<SimulatePolicyResponse> {
        let input = input.clone();
        if input.resource_policy.is_some() && input.caller_arn.is_none() {
            return Err(invalid_input(
                "CallerArn must be specified when simulating with a ResourcePolicy.",
            ));
        }
        let principal = match &input.caller_arn {
            Some(arn) => simulated_principal(arn)?,
            None => Principal::user(format!("arn:aws:iam::{}:user/simulated", call.account())),
        };
        simulate(
            call.account(),
            Vec::new(),
            None,
            principal,
            SimulationInput {
                policy_input_list: input.policy_input_list,
                permissions_boundary_policy_input_list: input
                    .permissions_boundary_policy_input_list,
                resource_policy: input.resource_policy,
                resource_owner: input.resource_owner,
                context_entries: input.context_entries,
                action_names: input.action_names,
                resource_arns: input.resource_arns,
                marker: input.marker,
                max_items: input.max_items,
            },
        )
    }
}

operation!(SimulatePrincipalPolicy, Iam, reads, SimulatePrincipalPolicyRequest => SimulatePolicyResponse);
impl Handler for SimulatePrincipalPolicy {
    type Target = ();

    fn resolve(_: &mut Call<'_>, input: &SimulatePrincipalPolicyRequest) -> Result<((), Access)> {
        Ok((
            (),
            Access::to(Self::ACTION, input.policy_source_arn.clone()),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &SimulatePrincipalPolicyRequest,
    ) -> Result<SimulatePolicyResponse> {
        let input = input.clone();
        let (attached, boundary) = principal_policies(call, &input.policy_source_arn)?;
        let principal_arn = input
            .caller_arn
            .as_deref()
            .unwrap_or(&input.policy_source_arn);
        let principal = simulated_principal(principal_arn)?;
        simulate(
            call.account(),
            attached,
            boundary,
            principal,
            SimulationInput {
                policy_input_list: input.policy_input_list.unwrap_or_default(),
                permissions_boundary_policy_input_list: input
                    .permissions_boundary_policy_input_list,
                resource_policy: input.resource_policy,
                resource_owner: input.resource_owner,
                context_entries: input.context_entries,
                action_names: input.action_names,
                resource_arns: input.resource_arns,
                marker: input.marker,
                max_items: input.max_items,
            },
        )
    }
}

operation!(GetContextKeysForCustomPolicy, Iam, reads, GetContextKeysForCustomPolicyRequest => GetContextKeysForPolicyResponse);
impl Handler for GetContextKeysForCustomPolicy {
    type Target = ();

    fn resolve(_: &mut Call<'_>, _: &GetContextKeysForCustomPolicyRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }

    fn run(
        _: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &GetContextKeysForCustomPolicyRequest,
    ) -> Result<GetContextKeysForPolicyResponse> {
        let policies = inputs(
            "PolicyInputList",
            input.policy_input_list.clone(),
            PolicySourceType::None,
            PolicyKind::Identity,
        )?;
        Ok(GetContextKeysForPolicyResponse {
            context_key_names: Some(union_of_keys(policies.iter().map(|s| &s.policy))),
        })
    }
}

operation!(GetContextKeysForPrincipalPolicy, Iam, reads, GetContextKeysForPrincipalPolicyRequest => GetContextKeysForPolicyResponse);
impl Handler for GetContextKeysForPrincipalPolicy {
    type Target = ();

    fn resolve(
        _: &mut Call<'_>,
        input: &GetContextKeysForPrincipalPolicyRequest,
    ) -> Result<((), Access)> {
        Ok((
            (),
            Access::to(Self::ACTION, input.policy_source_arn.clone()),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &GetContextKeysForPrincipalPolicyRequest,
    ) -> Result<GetContextKeysForPolicyResponse> {
        let (mut policies, _boundary) = principal_policies(call, &input.policy_source_arn)?;
        policies.extend(inputs(
            "PolicyInputList",
            input.policy_input_list.clone().unwrap_or_default(),
            PolicySourceType::None,
            PolicyKind::Identity,
        )?);
        Ok(GetContextKeysForPolicyResponse {
            context_key_names: Some(union_of_keys(policies.iter().map(|s| &s.policy))),
        })
    }
}

/// The identity policies and boundary of a user, group or role, by ARN, from the gatherer
/// that enforcement uses.
fn principal_policies(
    call: &mut Call<'_>,
    arn_text: &str,
) -> Result<(Vec<Source>, Option<Source>)> {
    let invalid = || invalid_input(format!("Invalid ARN: {arn_text}"));
    let arn = Arn::parse(arn_text).map_err(|_| invalid())?;
    if arn.service != "iam" || arn.account != call.account() {
        return Err(invalid());
    }
    let (kind, rest) = arn.resource.split_once('/').ok_or_else(invalid)?;
    let name = rest.rsplit('/').next().unwrap_or(rest);
    fn found<E: Entity>(call: &mut Call<'_>, name: &str, arn_text: &str) -> Result<E> {
        entity::by_name(call.t, call.account(), name)?
            .filter(|e: &E| e.arn() == arn_text)
            .ok_or_else(|| E::no_such(name))
    }
    let gathered = match kind {
        "user" => {
            let user: UserRecord = found(call, name, arn_text)?;
            gather(call.t, &user)?
        }
        "role" => {
            let role: RoleRecord = found(call, name, arn_text)?;
            gather_for(call.t, &Holder::role(&role))?
        }
        "group" => {
            let group: GroupRecord = found(call, name, arn_text)?;
            gather_for(call.t, &Holder::group(&group))?
        }
        _ => return Err(invalid()),
    };
    let source = |p: crate::authz::GatheredPolicy, kind| {
        let source_type = match p.source {
            PolicySource::UserInline => PolicySourceType::User,
            PolicySource::RoleInline => PolicySourceType::Role,
            PolicySource::GroupInline => PolicySourceType::Group,
            PolicySource::CustomerManaged | PolicySource::Boundary => PolicySourceType::UserManaged,
            PolicySource::AwsManaged => PolicySourceType::AwsManaged,
            PolicySource::Session => PolicySourceType::None,
        };
        Source::parse(p.id, source_type, p.document, kind)
    };
    let identity = gathered
        .identity
        .into_iter()
        .map(|p| source(p, PolicyKind::Identity))
        .collect::<Result<_>>()?;
    let boundary = gathered
        .boundary
        .map(|p| source(p, PolicyKind::PermissionsBoundary))
        .transpose()?;
    Ok((identity, boundary))
}

fn simulated_principal(arn_text: &str) -> Result<Principal> {
    let arn =
        Arn::parse(arn_text).map_err(|_| invalid_input(format!("Invalid ARN: {arn_text}")))?;
    Ok(if arn.resource == "root" {
        Principal::root(arn.account)
    } else if let Some(rest) = arn.resource.strip_prefix("assumed-role/") {
        let role = rest.split('/').next().unwrap_or(rest);
        Principal::assumed_role(
            arn_text,
            format!("arn:{}:iam::{}:role/{role}", arn.partition, arn.account),
        )
    } else if arn.resource.starts_with("role/") {
        Principal::new(PrincipalKind::Role, arn_text, arn.account)
    } else {
        Principal::user(arn_text)
    })
}

/// `ResourceOwner` is an account id or an account ARN (`arn:aws:iam::ACCT:root`).
fn owner_account(owner: &str) -> Result<String> {
    if owner.len() == 12 && owner.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(owner.to_string());
    }
    match Arn::parse(owner) {
        Ok(arn) if !arn.account.is_empty() => Ok(arn.account),
        _ => Err(invalid_input(format!("Invalid ResourceOwner: {owner}"))),
    }
}

/// The 1-based (line, column) where statement `index` starts and just after it ends, found by
/// scanning the document's JSON (strings skipped, nesting counted).
fn statement_span(document: &str, index: usize) -> Option<((usize, usize), (usize, usize))> {
    let chars: Vec<char> = document.chars().collect();
    let mut pos = Vec::with_capacity(chars.len() + 1);
    let (mut line, mut col) = (1usize, 1usize);
    for c in &chars {
        pos.push((line, col));
        if *c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    pos.push((line, col));

    // Find the top-level "Statement" key.
    let mut depth = 0usize;
    let mut i = 0usize;
    let mut value_start = None;
    while i < chars.len() {
        match chars.get(i)? {
            '"' => {
                let end = string_end(&chars, i)?;
                if depth == 1 {
                    let key: String = chars.get(i + 1..end)?.iter().collect();
                    let mut j = end + 1;
                    while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                        j += 1;
                    }
                    if key == "Statement" && chars.get(j) == Some(&':') {
                        j += 1;
                        while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                            j += 1;
                        }
                        value_start = Some(j);
                        break;
                    }
                }
                i = end + 1;
                continue;
            }
            '{' | '[' => depth += 1,
            '}' | ']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    let start = value_start?;
    let object_at = |k: usize| -> Option<(usize, usize)> {
        let end = value_end(&chars, k)?;
        Some((k, end))
    };
    let (s, e) = match chars.get(start)? {
        '{' if index == 0 => object_at(start)?,
        '[' => {
            let mut k = start + 1;
            let mut n = 0usize;
            loop {
                while chars.get(k).is_some_and(|c| c.is_whitespace() || *c == ',') {
                    k += 1;
                }
                if chars.get(k)? == &']' {
                    return None;
                }
                let (s, e) = object_at(k)?;
                if n == index {
                    break (s, e);
                }
                n += 1;
                k = e;
            }
        }
        _ => return None,
    };
    Some((*pos.get(s)?, *pos.get(e)?))
}

/// Index of the closing quote of the string that opens at `i`.
fn string_end(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match chars.get(j)? {
            '\\' => j += 2,
            '"' => return Some(j),
            _ => j += 1,
        }
    }
}

/// Index just after the JSON value that starts at `k`.
fn value_end(chars: &[char], k: usize) -> Option<usize> {
    match chars.get(k)? {
        '"' => Some(string_end(chars, k)? + 1),
        '{' | '[' => {
            let mut depth = 0usize;
            let mut j = k;
            loop {
                match chars.get(j)? {
                    '"' => j = string_end(chars, j)?,
                    '{' | '[' => depth += 1,
                    '}' | ']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = k;
            while chars
                .get(j)
                .is_some_and(|c| !matches!(c, ',' | '}' | ']') && !c.is_whitespace())
            {
                j += 1;
            }
            Some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_statement_spans() {
        let doc = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"},\n  {\"Sid\":\"x}\",\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}";
        assert_eq!(statement_span(doc, 0), Some(((1, 38), (1, 84))));
        assert_eq!(statement_span(doc, 1), Some(((2, 3), (2, 59))));
        assert_eq!(statement_span(doc, 2), None);
        let single = r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        assert_eq!(statement_span(single, 0), Some(((1, 14), (1, 60))));
        assert_eq!(statement_span("{", 0), None);
    }
}
