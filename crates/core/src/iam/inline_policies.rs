//! Inline policies of users, groups and roles: Put, Get, Delete and List, written once for
//! every policy holder.

use gatehouse_policy::{PolicyKind, policy_size};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    DeleteGroupPolicyRequest, DeleteRolePolicyRequest, DeleteUserPolicyRequest,
    GetGroupPolicyRequest, GetGroupPolicyResponse, GetRolePolicyRequest, GetRolePolicyResponse,
    GetUserPolicyRequest, GetUserPolicyResponse, ListGroupPoliciesRequest,
    ListGroupPoliciesResponse, ListRolePoliciesRequest, ListRolePoliciesResponse,
    ListUserPoliciesRequest, ListUserPoliciesResponse, PutGroupPolicyRequest, PutRolePolicyRequest,
    PutUserPolicyRequest,
};

use crate::authz::{Access, Authorized, parse_policy};
use crate::errors::{Failure, Result, limit_exceeded};
use crate::iam::common::named;
use crate::model::entity::{self, Entity, Named, PolicyHolder};
use crate::model::pagination::{Page, PageRequest};
use crate::model::records::{
    GroupRecord, INLINE_POLICIES, InlinePolicyRecord, Record, Records, RoleRecord, UserRecord, key,
    prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// Percent-encodes as AWS returns policy documents (RFC 3986: all but unreserved characters).
pub(crate) fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn policy_key<E: Entity>(holder: &E, policy_name: &str) -> String {
    key(holder.account(), &[holder.id(), policy_name])
}

fn no_such_policy<E: Entity>(policy: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The {} policy with name {policy} cannot be found.", E::KIND),
    )
    .into()
}

/// Records that a holder's policies changed, in the transaction that changed them: the
/// compiled sets cached under the old revision are never used again, on any node.
pub(crate) fn policies_changed<E: PolicyHolder>(call: &mut Call<'_>, holder: &mut E) -> Result<()> {
    *holder.policies_rev_mut() += 1;
    entity::save(call.t, holder)?;
    holder.policies_changed_for_others(call.t)
}

fn put<E: PolicyHolder>(
    call: &mut Call<'_>,
    mut holder: E,
    name: &str,
    document: &str,
) -> Result<()> {
    holder.check_modifiable()?;
    parse_policy(document, PolicyKind::Identity)?;
    let others: Vec<(String, InlinePolicyRecord)> = call.t.scan_records(
        INLINE_POLICIES,
        &prefix(holder.account(), &[holder.id()]),
        None,
        usize::MAX,
    )?;
    let total: usize = others
        .iter()
        .filter(|(_, p)| p.name != name)
        .map(|(_, p)| policy_size(&p.document))
        .sum::<usize>()
        + policy_size(document);
    if total > E::INLINE_QUOTA {
        return Err(limit_exceeded(format!(
            "Maximum policy size of {} bytes exceeded for {} {}",
            E::INLINE_QUOTA,
            E::KIND,
            holder.name()
        )));
    }
    let record = InlinePolicyRecord {
        v: InlinePolicyRecord::VERSION,
        name: name.to_string(),
        document: document.to_string(),
    };
    call.t
        .put_record(INLINE_POLICIES, &policy_key(&holder, name), &record)?;
    policies_changed(call, &mut holder)
}

fn get<E: Entity>(call: &mut Call<'_>, holder: &E, name: &str) -> Result<InlinePolicyRecord> {
    call.t
        .get_record(INLINE_POLICIES, &policy_key(holder, name))?
        .ok_or_else(|| no_such_policy::<E>(name))
}

fn delete<E: PolicyHolder>(call: &mut Call<'_>, mut holder: E, name: &str) -> Result<()> {
    holder.check_modifiable()?;
    if !call.t.delete(INLINE_POLICIES, &policy_key(&holder, name))? {
        return Err(no_such_policy::<E>(name));
    }
    policies_changed(call, &mut holder)
}

fn list<E: Entity>(
    call: &mut Call<'_>,
    holder: &E,
    marker: Option<&str>,
    max_items: Option<i32>,
) -> Result<Page<String>> {
    let under = prefix(holder.account(), &[holder.id()]);
    PageRequest::new(marker, max_items)?.collect(|after, n| {
        Ok(call
            .t
            .scan_records::<InlinePolicyRecord>(INLINE_POLICIES, &under, after, n)?
            .into_iter()
            .map(|(k, p)| (k, Some(p.name)))
            .collect())
    })
}

operation!(PutUserPolicy, Iam, writes, PutUserPolicyRequest => ());
impl Handler for PutUserPolicy {
    type Target = Named<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &PutUserPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.user_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
        input: &PutUserPolicyRequest,
    ) -> Result<()> {
        put(
            call,
            user.existing()?,
            &input.policy_name,
            &input.policy_document,
        )
    }
}

operation!(GetUserPolicy, Iam, reads, GetUserPolicyRequest => GetUserPolicyResponse);
impl Handler for GetUserPolicy {
    type Target = Named<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &GetUserPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.user_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
        input: &GetUserPolicyRequest,
    ) -> Result<GetUserPolicyResponse> {
        let user = user.existing()?;
        let policy = get(call, &user, &input.policy_name)?;
        Ok(GetUserPolicyResponse {
            user_name: user.name,
            policy_name: policy.name,
            policy_document: url_encode(&policy.document),
        })
    }
}

operation!(DeleteUserPolicy, Iam, writes, DeleteUserPolicyRequest => ());
impl Handler for DeleteUserPolicy {
    type Target = Named<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteUserPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.user_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
        input: &DeleteUserPolicyRequest,
    ) -> Result<()> {
        delete(call, user.existing()?, &input.policy_name)
    }
}

operation!(ListUserPolicies, Iam, reads, ListUserPoliciesRequest => ListUserPoliciesResponse);
impl Handler for ListUserPolicies {
    type Target = Named<UserRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListUserPoliciesRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.user_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
        input: &ListUserPoliciesRequest,
    ) -> Result<ListUserPoliciesResponse> {
        let page = list(
            call,
            &user.existing()?,
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListUserPoliciesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            policy_names: page.items,
        })
    }
}

operation!(PutGroupPolicy, Iam, writes, PutGroupPolicyRequest => ());
impl Handler for PutGroupPolicy {
    type Target = Named<GroupRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &PutGroupPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.group_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        input: &PutGroupPolicyRequest,
    ) -> Result<()> {
        put(
            call,
            group.existing()?,
            &input.policy_name,
            &input.policy_document,
        )
    }
}

operation!(GetGroupPolicy, Iam, reads, GetGroupPolicyRequest => GetGroupPolicyResponse);
impl Handler for GetGroupPolicy {
    type Target = Named<GroupRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &GetGroupPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.group_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        input: &GetGroupPolicyRequest,
    ) -> Result<GetGroupPolicyResponse> {
        let group = group.existing()?;
        let policy = get(call, &group, &input.policy_name)?;
        Ok(GetGroupPolicyResponse {
            group_name: group.name,
            policy_name: policy.name,
            policy_document: url_encode(&policy.document),
        })
    }
}

operation!(DeleteGroupPolicy, Iam, writes, DeleteGroupPolicyRequest => ());
impl Handler for DeleteGroupPolicy {
    type Target = Named<GroupRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteGroupPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.group_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        input: &DeleteGroupPolicyRequest,
    ) -> Result<()> {
        delete(call, group.existing()?, &input.policy_name)
    }
}

operation!(ListGroupPolicies, Iam, reads, ListGroupPoliciesRequest => ListGroupPoliciesResponse);
impl Handler for ListGroupPolicies {
    type Target = Named<GroupRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListGroupPoliciesRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.group_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        input: &ListGroupPoliciesRequest,
    ) -> Result<ListGroupPoliciesResponse> {
        let page = list(
            call,
            &group.existing()?,
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListGroupPoliciesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            policy_names: page.items,
        })
    }
}

operation!(PutRolePolicy, Iam, writes, PutRolePolicyRequest => ());
impl Handler for PutRolePolicy {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &PutRolePolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &PutRolePolicyRequest,
    ) -> Result<()> {
        put(
            call,
            role.existing()?,
            &input.policy_name,
            &input.policy_document,
        )
    }
}

operation!(GetRolePolicy, Iam, reads, GetRolePolicyRequest => GetRolePolicyResponse);
impl Handler for GetRolePolicy {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &GetRolePolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &GetRolePolicyRequest,
    ) -> Result<GetRolePolicyResponse> {
        let role = role.existing()?;
        let policy = get(call, &role, &input.policy_name)?;
        Ok(GetRolePolicyResponse {
            role_name: role.name,
            policy_name: policy.name,
            policy_document: url_encode(&policy.document),
        })
    }
}

operation!(DeleteRolePolicy, Iam, writes, DeleteRolePolicyRequest => ());
impl Handler for DeleteRolePolicy {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteRolePolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &DeleteRolePolicyRequest,
    ) -> Result<()> {
        delete(call, role.existing()?, &input.policy_name)
    }
}

operation!(ListRolePolicies, Iam, reads, ListRolePoliciesRequest => ListRolePoliciesResponse);
impl Handler for ListRolePolicies {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListRolePoliciesRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &ListRolePoliciesRequest,
    ) -> Result<ListRolePoliciesResponse> {
        let page = list(
            call,
            &role.existing()?,
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListRolePoliciesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            policy_names: page.items,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encodes_like_aws() {
        assert_eq!(
            url_encode(r#"{"A": "b/c*"}"#),
            "%7B%22A%22%3A%20%22b%2Fc%2A%22%7D"
        );
        assert_eq!(url_encode("a-_.~Z9"), "a-_.~Z9");
    }
}
