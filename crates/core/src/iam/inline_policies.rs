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

/// Declares `Put…Policy`, `Get…Policy`, `Delete…Policy` and `List…Policies` for one policy
/// holder: its record type, the field naming it (in requests and in Get's response), then each
/// operation with its shapes.
macro_rules! inline_policy_operations {
    ($holder:ty, $key:ident,
     $put:ident($put_req:ty),
     $get:ident($get_req:ty => $get_resp:ident),
     $delete:ident($delete_req:ty),
     $list:ident($list_req:ty => $list_resp:ident)) => {
        operation!($put, Iam, writes, $put_req => ());
        impl Handler for $put {
            type Target = Named<$holder>;
            fn resolve(call: &mut Call<'_>, input: &$put_req) -> Result<(Self::Target, Access)> {
                named(call, &input.$key, Self::ACTION)
            }
            fn run(
                call: &mut Call<'_>,
                _: Authorized,
                holder: Self::Target,
                input: &$put_req,
            ) -> Result<()> {
                put(
                    call,
                    holder.existing()?,
                    &input.policy_name,
                    &input.policy_document,
                )
            }
        }

        operation!($get, Iam, reads, $get_req => $get_resp);
        impl Handler for $get {
            type Target = Named<$holder>;
            fn resolve(call: &mut Call<'_>, input: &$get_req) -> Result<(Self::Target, Access)> {
                named(call, &input.$key, Self::ACTION)
            }
            fn run(
                call: &mut Call<'_>,
                _: Authorized,
                holder: Self::Target,
                input: &$get_req,
            ) -> Result<$get_resp> {
                let holder = holder.existing()?;
                let policy = get(call, &holder, &input.policy_name)?;
                Ok($get_resp {
                    $key: holder.name,
                    policy_name: policy.name,
                    policy_document: url_encode(&policy.document),
                })
            }
        }

        operation!($delete, Iam, writes, $delete_req => ());
        impl Handler for $delete {
            type Target = Named<$holder>;
            fn resolve(call: &mut Call<'_>, input: &$delete_req) -> Result<(Self::Target, Access)> {
                named(call, &input.$key, Self::ACTION)
            }
            fn run(
                call: &mut Call<'_>,
                _: Authorized,
                holder: Self::Target,
                input: &$delete_req,
            ) -> Result<()> {
                delete(call, holder.existing()?, &input.policy_name)
            }
        }

        operation!($list, Iam, reads, $list_req => $list_resp);
        impl Handler for $list {
            type Target = Named<$holder>;
            fn resolve(call: &mut Call<'_>, input: &$list_req) -> Result<(Self::Target, Access)> {
                named(call, &input.$key, Self::ACTION)
            }
            fn run(
                call: &mut Call<'_>,
                _: Authorized,
                holder: Self::Target,
                input: &$list_req,
            ) -> Result<$list_resp> {
                let page = list(
                    call,
                    &holder.existing()?,
                    input.marker.as_deref(),
                    input.max_items,
                )?;
                Ok($list_resp {
                    is_truncated: Some(page.is_truncated()),
                    marker: page.next_marker,
                    policy_names: page.items,
                })
            }
        }
    };
}

inline_policy_operations!(
    UserRecord, user_name,
    PutUserPolicy(PutUserPolicyRequest),
    GetUserPolicy(GetUserPolicyRequest => GetUserPolicyResponse),
    DeleteUserPolicy(DeleteUserPolicyRequest),
    ListUserPolicies(ListUserPoliciesRequest => ListUserPoliciesResponse)
);
inline_policy_operations!(
    GroupRecord, group_name,
    PutGroupPolicy(PutGroupPolicyRequest),
    GetGroupPolicy(GetGroupPolicyRequest => GetGroupPolicyResponse),
    DeleteGroupPolicy(DeleteGroupPolicyRequest),
    ListGroupPolicies(ListGroupPoliciesRequest => ListGroupPoliciesResponse)
);
inline_policy_operations!(
    RoleRecord, role_name,
    PutRolePolicy(PutRolePolicyRequest),
    GetRolePolicy(GetRolePolicyRequest => GetRolePolicyResponse),
    DeleteRolePolicy(DeleteRolePolicyRequest),
    ListRolePolicies(ListRolePoliciesRequest => ListRolePoliciesResponse)
);

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
