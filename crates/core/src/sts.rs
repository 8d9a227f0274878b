//! The STS API: the generated [`StsApi`] trait, routed through the one pipeline.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::sts::{
    Credentials, GetCallerIdentityRequest, GetCallerIdentityResponse, GetSessionTokenRequest,
    GetSessionTokenResponse, StsApi,
};

use crate::Principal;
use crate::authz::{Access, Authorized};
use crate::errors::Result;
use crate::model::records::ROOT_OWNER;
use crate::pipeline::{Call, Handler, operation, operations};

/// `GetSessionToken`'s durations (AWS): 15 minutes to 36 hours for a user, 12 hours by default;
/// at most (and by default) one hour for the root user.
const SESSION_MIN_SECONDS: i64 = 900;
const USER_SESSION_MAX_SECONDS: i64 = 129_600;
const USER_SESSION_DEFAULT_SECONDS: i64 = 43_200;
const ROOT_SESSION_SECONDS: i64 = 3_600;

operation!(GetSessionToken, Sts, writes, GetSessionTokenRequest => GetSessionTokenResponse);
impl Handler for GetSessionToken {
    type Target = ();

    fn resolve(_: &mut Call<'_>, _: &GetSessionTokenRequest) -> Result<((), Access)> {
        Ok((
            (),
            Access::Exempt(
                "AWS: no permissions are required for users to perform this operation; its \
                 purpose is to authenticate the user, and policies cannot control it",
            ),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &GetSessionTokenRequest,
    ) -> Result<GetSessionTokenResponse> {
        // Temporary credentials calling it are refused by the pipeline (`sessions`).
        if input.serial_number.is_some() || input.token_code.is_some() {
            // No MFA device can be associated with anyone yet (virtual MFA comes with issue 9).
            return Err(ApiError::new(
                ErrorCode::AccessDenied,
                "MultiFactorAuthentication failed, unable to validate MFA code. Please verify \
                 your MFA serial number is valid and associated with this user.",
            )
            .into());
        }
        let requested = input.duration_seconds.map(i64::from);
        let (owner, seconds) = match &call.cx.caller.principal {
            // "If the duration is longer than one hour, the session for Amazon Web Services
            // account owners defaults to one hour."
            Principal::Root => (
                ROOT_OWNER.to_string(),
                requested
                    .unwrap_or(ROOT_SESSION_SECONDS)
                    .min(ROOT_SESSION_SECONDS),
            ),
            Principal::User(user) => (
                user.id.clone(),
                requested.unwrap_or(USER_SESSION_DEFAULT_SECONDS),
            ),
        };
        if !(SESSION_MIN_SECONDS..=USER_SESSION_MAX_SECONDS).contains(&seconds) {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                format!(
                    "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed \
                     to satisfy constraint: Member must have value {}",
                    if seconds < SESSION_MIN_SECONDS {
                        "greater than or equal to 900"
                    } else {
                        "less than or equal to 129600"
                    }
                ),
            )
            .into());
        }
        let account = call.account();
        let issued = call
            .g
            .issue_session(call.t, account, &owner, call.cx.now, seconds)?;
        Ok(GetSessionTokenResponse {
            credentials: Some(Credentials {
                access_key_id: issued.access_key_id,
                secret_access_key: issued.secret.expose().to_string(),
                session_token: issued.token.expose().to_string(),
                expiration: issued.expires,
            }),
        })
    }
}

operation!(GetCallerIdentity, Sts, reads, GetCallerIdentityRequest => GetCallerIdentityResponse);
impl Handler for GetCallerIdentity {
    type Target = ();

    fn resolve(_: &mut Call<'_>, _: &GetCallerIdentityRequest) -> Result<((), Access)> {
        Ok((
            (),
            Access::Exempt(
                "AWS: no permission is required to perform this operation; \
                 a policy that denies it has no effect",
            ),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &GetCallerIdentityRequest,
    ) -> Result<GetCallerIdentityResponse> {
        let caller = &call.cx.caller;
        let user_id = match &caller.principal {
            Principal::Root => caller.account.to_string(),
            Principal::User(user) => user.id.clone(),
        };
        Ok(GetCallerIdentityResponse {
            user_id: Some(user_id),
            account: Some(caller.account.to_string()),
            arn: Some(caller.arn()),
        })
    }
}

operations!(StsApi {
    get_caller_identity => GetCallerIdentity,
    get_session_token => GetSessionToken,
});
