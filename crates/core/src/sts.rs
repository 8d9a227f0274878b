//! The STS API: the generated [`StsApi`] trait, routed through the one pipeline.

use gatehouse_protocol::sts::{GetCallerIdentityRequest, GetCallerIdentityResponse, StsApi};

use crate::Principal;
use crate::authz::{Access, Authorized};
use crate::errors::Result;
use crate::pipeline::{Call, Handler, operation, operations};

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
});
