//! The authorization of every call: the caller, the action and the resource go to the policy
//! engine with the caller's policies; anything but an allow is AccessDenied.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_policy::{
    CompiledPolicySet, Context, NamedPolicy, Outcome, Policy, PolicyKind, PolicySet, Request,
};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_store::read;
use gatehouse_types::format_iso8601;

use crate::errors::{Failure, Result};
use crate::iam::parse_policy;
use crate::records::{Records, UserRecord};
use crate::{Gatehouse, Principal, RequestContext};

/// Why a request was refused, in the words AWS ends its AccessDenied messages with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialReason {
    NoIdentityPolicyAllows,
    ExplicitDenyInIdentityPolicy,
}

/// A user and its identity policies, compiled, as authorization needs them.
#[derive(Clone)]
pub(crate) struct UserPolicies {
    user: Arc<UserRecord>,
    /// Compiled into one index, once per store generation.
    set: Arc<CompiledPolicySet>,
}

/// Compiled policies by document text. Content-addressed, so it can never serve a stale
/// policy: a changed document is a different key. Several nodes may each keep their own.
#[derive(Default)]
pub(crate) struct CompiledPolicies {
    by_text: Mutex<HashMap<(PolicyKind, String), Arc<Policy>>>,
}

/// Entries kept before the cache starts over; enough for every policy of a large account.
const MAX_COMPILED_POLICIES: usize = 10_000;

impl CompiledPolicies {
    pub(crate) fn get(&self, document: &str, kind: PolicyKind) -> Result<Arc<Policy>> {
        let key = (kind, document.to_string());
        if let Some(policy) = self.by_text.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(policy);
        }
        let policy = Arc::new(parse_policy(document, kind)?);
        if let Ok(mut map) = self.by_text.lock() {
            if map.len() >= MAX_COMPILED_POLICIES {
                map.clear();
            }
            map.insert(key, policy.clone());
        }
        Ok(policy)
    }
}

impl Gatehouse {
    /// Allows the call or returns AWS's AccessDenied error.
    ///
    /// The root user may do everything in its own account. An IAM user is allowed what its
    /// policies allow, evaluated by the policy engine with AWS's logic.
    pub(crate) fn authorize(
        &self,
        cx: &RequestContext,
        action: &str,
        resource: &str,
    ) -> Result<(), ApiError> {
        let Principal::User { user_id, .. } = &cx.caller.principal else {
            return Ok(());
        };
        let principal_arn = self.principal_arn(&cx.caller.principal);
        let generation = self.store.generation();
        let loaded = self.user_policies.get_or_load(generation, user_id, || {
            let found = read(self.store.as_ref(), |t| {
                let Some(user) = t.user_by_id(user_id)? else {
                    return Ok::<_, Failure>(None);
                };
                let inline = self.user_inline_policies(t, user_id)?;
                Ok(Some((user, inline)))
            })?;
            let Some((user, inline)) = found else {
                return Ok::<_, Failure>(None);
            };
            let mut set = PolicySet::default();
            for p in inline {
                set.identity.push(NamedPolicy::new(
                    p.name,
                    self.compiled.get(&p.document, PolicyKind::Identity)?,
                ));
            }
            Ok(Some(UserPolicies {
                user: Arc::new(user),
                set: Arc::new(CompiledPolicySet::new(&set)),
            }))
        })?;
        // The key was valid a moment ago; a user deleted since has no permissions.
        let Some(UserPolicies { user, set }) = loaded else {
            return Err(access_denied(
                &principal_arn,
                action,
                resource,
                DenialReason::NoIdentityPolicyAllows,
            ));
        };
        let principal = gatehouse_policy::Principal::user(principal_arn.clone());
        let context = self.request_context(cx, &user, &principal_arn);
        let request = Request {
            principal: &principal,
            action,
            resource,
            resource_account: None,
            context: &context,
        };
        match set.authorize(&request).outcome {
            Outcome::Allowed => Ok(()),
            Outcome::ExplicitDeny => Err(access_denied(
                &principal_arn,
                action,
                resource,
                DenialReason::ExplicitDenyInIdentityPolicy,
            )),
            Outcome::ImplicitDeny => Err(access_denied(
                &principal_arn,
                action,
                resource,
                DenialReason::NoIdentityPolicyAllows,
            )),
        }
    }

    /// The global condition keys AWS sets for a request by an IAM user with a long-term key.
    fn request_context(
        &self,
        cx: &RequestContext,
        user: &UserRecord,
        principal_arn: &str,
    ) -> Context {
        let mut context = Context::new()
            .with("aws:username", user.name.clone())
            .with("aws:userid", user.id.clone())
            .with("aws:PrincipalArn", principal_arn)
            .with("aws:PrincipalAccount", self.account.to_string())
            .with("aws:PrincipalType", "User")
            .with(
                "aws:SecureTransport",
                if cx.secure_transport { "true" } else { "false" },
            )
            .with("aws:CurrentTime", format_iso8601(cx.now))
            .with("aws:EpochTime", cx.now.unix_seconds().to_string())
            .with("aws:RequestedRegion", "us-east-1")
            .with("aws:ViaAWSService", "false");
        if let Some(ip) = cx.source_ip {
            context.insert("aws:SourceIp", ip.to_string());
        }
        for (key, value) in &user.tags {
            context.insert(&format!("aws:PrincipalTag/{key}"), value.clone());
        }
        context
    }
}

pub fn access_denied(
    principal_arn: &str,
    action: &str,
    resource: &str,
    reason: DenialReason,
) -> ApiError {
    let because = match reason {
        DenialReason::NoIdentityPolicyAllows => {
            format!("no identity-based policy allows the {action} action")
        }
        DenialReason::ExplicitDenyInIdentityPolicy => {
            "with an explicit deny in an identity-based policy".to_string()
        }
    };
    ApiError::new(
        ErrorCode::AccessDenied,
        format!(
            "User: {principal_arn} is not authorized to perform: {action} on resource: {resource} because {because}"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denial_text_matches_aws() {
        let e = access_denied(
            "arn:aws:iam::123456789012:user/bob",
            "iam:CreateUser",
            "arn:aws:iam::123456789012:user/alice",
            DenialReason::NoIdentityPolicyAllows,
        );
        assert_eq!(
            e.message,
            "User: arn:aws:iam::123456789012:user/bob is not authorized to perform: iam:CreateUser on resource: \
             arn:aws:iam::123456789012:user/alice because no identity-based policy allows the iam:CreateUser action"
        );
    }

    #[test]
    fn compiled_policies_are_shared_by_text() {
        let cache = CompiledPolicies::default();
        let doc = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#;
        let a = cache.get(doc, PolicyKind::Identity).unwrap();
        let b = cache.get(doc, PolicyKind::Identity).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(cache.get("{}", PolicyKind::Identity).is_err());
    }
}
