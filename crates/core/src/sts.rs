//! The STS API: the generated [`StsApi`] trait.

use gatehouse_protocol::error::ApiError;
use gatehouse_protocol::sts::{GetCallerIdentityRequest, GetCallerIdentityResponse, StsApi};

use crate::{Gatehouse, Principal, RequestContext};

impl StsApi for Gatehouse {
    type Ctx = RequestContext;

    const IMPLEMENTED: &'static [&'static str] = &["GetCallerIdentity"];

    /// Needs no permission: AWS answers it even when an explicit deny covers it.
    fn get_caller_identity(
        &self,
        cx: &RequestContext,
        _input: GetCallerIdentityRequest,
    ) -> Result<GetCallerIdentityResponse, ApiError> {
        let user_id = match &cx.caller.principal {
            Principal::Root => self.account.to_string(),
            Principal::User { user_id, .. } => user_id.clone(),
        };
        Ok(GetCallerIdentityResponse {
            user_id: Some(user_id),
            account: Some(self.account.to_string()),
            arn: Some(self.principal_arn(&cx.caller.principal)),
        })
    }
}
