//! Inline policies of users: PutUserPolicy, GetUserPolicy, DeleteUserPolicy, ListUserPolicies.

use gatehouse_policy::{Policy, PolicyKind, policy_size};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    DeleteUserPolicyRequest, GetUserPolicyRequest, GetUserPolicyResponse, ListUserPoliciesRequest,
    ListUserPoliciesResponse, PutUserPolicyRequest,
};
use gatehouse_store::{read, write};
use serde::{Deserialize, Serialize};

use crate::errors::{Failure, Result, limit_exceeded, no_such_user};
use crate::pagination::paginate;
use crate::records::{FORMAT_VERSION, Records, USER_POLICIES};
use crate::{Gatehouse, RequestContext};

/// AWS's quota on the total size of one user's inline policies, counted without whitespace.
pub const MAX_USER_INLINE_POLICY_SIZE: usize = 2048;

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct InlinePolicyRecord {
    pub v: u32,
    pub name: String,
    pub document: String,
}

pub(crate) fn inline_key(owner_id: &str, policy_name: &str) -> String {
    format!("{owner_id}/{policy_name}")
}

/// Parses a policy document as IAM does on upload, with AWS's error code.
pub(crate) fn parse_policy(document: &str, kind: PolicyKind) -> Result<Policy> {
    Policy::parse(document, kind)
        .map_err(|e| ApiError::new(ErrorCode::MalformedPolicyDocument, e.message()).into())
}

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

impl Gatehouse {
    pub(crate) fn put_user_policy_impl(
        &self,
        cx: &RequestContext,
        input: PutUserPolicyRequest,
    ) -> Result<()> {
        self.authorize(
            cx,
            "iam:PutUserPolicy",
            &self.user_resource(&input.user_name)?,
        )?;
        parse_policy(&input.policy_document, PolicyKind::Identity)?;
        write(self.store.as_ref(), |t| {
            let user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            let prefix = format!("{}/", user.id);
            let others: Vec<(String, InlinePolicyRecord)> =
                t.scan_json(USER_POLICIES, &prefix, None, usize::MAX)?;
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
                v: FORMAT_VERSION,
                name: input.policy_name.clone(),
                document: input.policy_document.clone(),
            };
            t.put_json(
                USER_POLICIES,
                &inline_key(&user.id, &input.policy_name),
                &record,
            )?;
            Ok(())
        })
    }

    pub(crate) fn get_user_policy_impl(
        &self,
        cx: &RequestContext,
        input: GetUserPolicyRequest,
    ) -> Result<GetUserPolicyResponse> {
        self.authorize(
            cx,
            "iam:GetUserPolicy",
            &self.user_resource(&input.user_name)?,
        )?;
        let (user, policy) = read(self.store.as_ref(), |t| {
            let user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            let policy: Option<InlinePolicyRecord> =
                t.get_json(USER_POLICIES, &inline_key(&user.id, &input.policy_name))?;
            Ok::<_, Failure>((user, policy))
        })?;
        let policy = policy.ok_or_else(|| no_such_user_policy(&input.policy_name))?;
        Ok(GetUserPolicyResponse {
            user_name: user.name,
            policy_name: policy.name,
            policy_document: url_encode(&policy.document),
        })
    }

    pub(crate) fn delete_user_policy_impl(
        &self,
        cx: &RequestContext,
        input: DeleteUserPolicyRequest,
    ) -> Result<()> {
        self.authorize(
            cx,
            "iam:DeleteUserPolicy",
            &self.user_resource(&input.user_name)?,
        )?;
        write(self.store.as_ref(), |t| {
            let user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            if !t.delete(USER_POLICIES, &inline_key(&user.id, &input.policy_name))? {
                return Err(no_such_user_policy(&input.policy_name));
            }
            Ok(())
        })
    }

    pub(crate) fn list_user_policies_impl(
        &self,
        cx: &RequestContext,
        input: ListUserPoliciesRequest,
    ) -> Result<ListUserPoliciesResponse> {
        self.authorize(
            cx,
            "iam:ListUserPolicies",
            &self.user_resource(&input.user_name)?,
        )?;
        let page = read(self.store.as_ref(), |t| {
            let user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            paginate(
                t,
                USER_POLICIES,
                &format!("{}/", user.id),
                input.marker.as_deref(),
                input.max_items,
                |_: &InlinePolicyRecord| true,
            )
        })?;
        Ok(ListUserPoliciesResponse {
            policy_names: page.items.into_iter().map(|p| p.name).collect(),
            is_truncated: Some(page.next_marker.is_some()),
            marker: page.next_marker,
        })
    }

    /// The inline policies of a user, as stored.
    pub(crate) fn user_inline_policies(
        &self,
        t: &mut dyn gatehouse_store::Txn,
        user_id: &str,
    ) -> Result<Vec<InlinePolicyRecord>> {
        let rows: Vec<(String, InlinePolicyRecord)> =
            t.scan_json(USER_POLICIES, &format!("{user_id}/"), None, usize::MAX)?;
        Ok(rows.into_iter().map(|(_, p)| p).collect())
    }
}

fn no_such_user_policy(policy: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The user policy with name {policy} cannot be found."),
    )
    .into()
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
