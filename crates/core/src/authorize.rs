//! The authorization of every call: the caller, the action and the resource go to the policy
//! engine with the caller's policies; anything but an allow is AccessDenied.

use gatehouse_protocol::error::{ApiError, ErrorCode};

use crate::{Gatehouse, Principal, RequestContext};

/// Why a request was refused, in the words AWS ends its AccessDenied messages with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenialReason {
    NoIdentityPolicyAllows,
    ExplicitDenyInIdentityPolicy,
}

impl Gatehouse {
    /// Allows the call or returns AWS's AccessDenied error.
    ///
    /// The root user may do everything in its own account. An IAM user is allowed only what its
    /// policies allow; IAM users have no way to receive policies yet (the policy APIs arrive with
    /// the policy engine), so today every user call that needs a permission is implicitly denied,
    /// which is what AWS does for a user without policies.
    pub(crate) fn authorize(&self, cx: &RequestContext, action: &str, resource: &str) -> Result<(), ApiError> {
        match &cx.caller.principal {
            Principal::Root => Ok(()),
            principal @ Principal::User { .. } => {
                Err(access_denied(&self.principal_arn(principal), action, resource, DenialReason::NoIdentityPolicyAllows))
            }
        }
    }
}

pub fn access_denied(principal_arn: &str, action: &str, resource: &str, reason: DenialReason) -> ApiError {
    let because = match reason {
        DenialReason::NoIdentityPolicyAllows => format!("no identity-based policy allows the {action} action"),
        DenialReason::ExplicitDenyInIdentityPolicy => "with an explicit deny in an identity-based policy".to_string(),
    };
    ApiError::new(
        ErrorCode::AccessDenied,
        format!("User: {principal_arn} is not authorized to perform: {action} on resource: {resource} because {because}"),
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
}
