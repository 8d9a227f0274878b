//! Inline policies of users: PutUserPolicy, GetUserPolicy, DeleteUserPolicy, ListUserPolicies.

use gatehouse_policy::{PolicyKind, policy_size};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    DeleteUserPolicyRequest, GetUserPolicyRequest, GetUserPolicyResponse, ListUserPoliciesRequest,
    ListUserPoliciesResponse, PutUserPolicyRequest,
};

use crate::authz::{Access, Authorized, parse_policy};
use crate::errors::{Failure, Result, limit_exceeded};
use crate::iam::users::NamedUser;
use crate::model::entity;
use crate::model::pagination::PageRequest;
use crate::model::records::{
    INLINE_POLICIES, InlinePolicyRecord, Record, Records, UserRecord, key, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quota on the total size of one user's inline policies, counted without whitespace.
pub const MAX_USER_INLINE_POLICY_SIZE: usize = 2048;

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

fn policy_key(user: &UserRecord, policy_name: &str) -> String {
    key(&user.account, &[&user.id, policy_name])
}

fn no_such_user_policy(policy: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The user policy with name {policy} cannot be found."),
    )
    .into()
}

/// Records that `user`'s policies changed, in the transaction that changed them: the
/// compiled set cached under the old revision is never used again, on any node.
fn policies_changed(call: &mut Call<'_>, mut user: UserRecord) -> Result<()> {
    user.policies_rev += 1;
    entity::save(call.t, &user)
}

fn resolve_user(
    call: &mut Call<'_>,
    user_name: &str,
    action: &'static str,
) -> Result<(NamedUser, Access)> {
    let user = NamedUser::find(call, user_name)?;
    let access = user.access(call, action);
    Ok((user, access))
}

operation!(PutUserPolicy, Iam, writes, PutUserPolicyRequest => ());
impl Handler for PutUserPolicy {
    type Target = NamedUser;

    fn resolve(call: &mut Call<'_>, input: &PutUserPolicyRequest) -> Result<(NamedUser, Access)> {
        resolve_user(call, &input.user_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        input: &PutUserPolicyRequest,
    ) -> Result<()> {
        let user = user.existing()?;
        parse_policy(&input.policy_document, PolicyKind::Identity)?;
        let others: Vec<(String, InlinePolicyRecord)> = call.t.scan_records(
            INLINE_POLICIES,
            &prefix(&user.account, &[&user.id]),
            None,
            usize::MAX,
        )?;
        let total: usize = others
            .iter()
            .filter(|(_, p)| p.name != input.policy_name)
            .map(|(_, p)| policy_size(&p.document))
            .sum::<usize>()
            + policy_size(&input.policy_document);
        if total > MAX_USER_INLINE_POLICY_SIZE {
            return Err(limit_exceeded(format!(
                "Maximum policy size of {MAX_USER_INLINE_POLICY_SIZE} bytes exceeded for user {}",
                user.name
            )));
        }
        let record = InlinePolicyRecord {
            v: InlinePolicyRecord::VERSION,
            name: input.policy_name.clone(),
            document: input.policy_document.clone(),
        };
        call.t.put_record(
            INLINE_POLICIES,
            &policy_key(&user, &input.policy_name),
            &record,
        )?;
        policies_changed(call, user)
    }
}

operation!(GetUserPolicy, Iam, reads, GetUserPolicyRequest => GetUserPolicyResponse);
impl Handler for GetUserPolicy {
    type Target = NamedUser;

    fn resolve(call: &mut Call<'_>, input: &GetUserPolicyRequest) -> Result<(NamedUser, Access)> {
        resolve_user(call, &input.user_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        input: &GetUserPolicyRequest,
    ) -> Result<GetUserPolicyResponse> {
        let user = user.existing()?;
        let policy: InlinePolicyRecord = call
            .t
            .get_record(INLINE_POLICIES, &policy_key(&user, &input.policy_name))?
            .ok_or_else(|| no_such_user_policy(&input.policy_name))?;
        Ok(GetUserPolicyResponse {
            user_name: user.name,
            policy_name: policy.name,
            policy_document: url_encode(&policy.document),
        })
    }
}

operation!(DeleteUserPolicy, Iam, writes, DeleteUserPolicyRequest => ());
impl Handler for DeleteUserPolicy {
    type Target = NamedUser;

    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteUserPolicyRequest,
    ) -> Result<(NamedUser, Access)> {
        resolve_user(call, &input.user_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        input: &DeleteUserPolicyRequest,
    ) -> Result<()> {
        let user = user.existing()?;
        if !call
            .t
            .delete(INLINE_POLICIES, &policy_key(&user, &input.policy_name))?
        {
            return Err(no_such_user_policy(&input.policy_name));
        }
        policies_changed(call, user)
    }
}

operation!(ListUserPolicies, Iam, reads, ListUserPoliciesRequest => ListUserPoliciesResponse);
impl Handler for ListUserPolicies {
    type Target = NamedUser;

    fn resolve(
        call: &mut Call<'_>,
        input: &ListUserPoliciesRequest,
    ) -> Result<(NamedUser, Access)> {
        resolve_user(call, &input.user_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        input: &ListUserPoliciesRequest,
    ) -> Result<ListUserPoliciesResponse> {
        let user = user.existing()?;
        let under = prefix(&user.account, &[&user.id]);
        let page =
            PageRequest::new(input.marker.as_deref(), input.max_items)?.collect(|after, n| {
                Ok(call
                    .t
                    .scan_records::<InlinePolicyRecord>(INLINE_POLICIES, &under, after, n)?
                    .into_iter()
                    .map(|(k, p)| (k, Some(p.name)))
                    .collect())
            })?;
        Ok(ListUserPoliciesResponse {
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
