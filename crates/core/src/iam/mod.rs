//! The IAM API: the generated [`IamApi`] trait wired to the handlers in this module's files.

mod access_keys;
mod simulate;
mod user_policies;
mod users;

pub(crate) use user_policies::parse_policy;

use gatehouse_protocol::error::ApiError;
use gatehouse_protocol::iam::*;

use crate::{Gatehouse, RequestContext};

impl IamApi for Gatehouse {
    type Ctx = RequestContext;

    const IMPLEMENTED: &'static [&'static str] = &[
        "CreateAccessKey",
        "CreateUser",
        "DeleteAccessKey",
        "DeleteUser",
        "DeleteUserPolicy",
        "GetAccessKeyLastUsed",
        "GetContextKeysForCustomPolicy",
        "GetContextKeysForPrincipalPolicy",
        "GetUser",
        "GetUserPolicy",
        "ListAccessKeys",
        "ListUserPolicies",
        "ListUserTags",
        "ListUsers",
        "PutUserPolicy",
        "SimulateCustomPolicy",
        "SimulatePrincipalPolicy",
        "TagUser",
        "UntagUser",
        "UpdateAccessKey",
        "UpdateUser",
    ];

    fn create_user(
        &self,
        cx: &RequestContext,
        input: CreateUserRequest,
    ) -> Result<CreateUserResponse, ApiError> {
        Ok(self.create_user_impl(cx, input)?)
    }

    fn get_user(
        &self,
        cx: &RequestContext,
        input: GetUserRequest,
    ) -> Result<GetUserResponse, ApiError> {
        Ok(self.get_user_impl(cx, input)?)
    }

    fn list_users(
        &self,
        cx: &RequestContext,
        input: ListUsersRequest,
    ) -> Result<ListUsersResponse, ApiError> {
        Ok(self.list_users_impl(cx, input)?)
    }

    fn update_user(&self, cx: &RequestContext, input: UpdateUserRequest) -> Result<(), ApiError> {
        Ok(self.update_user_impl(cx, input)?)
    }

    fn delete_user(&self, cx: &RequestContext, input: DeleteUserRequest) -> Result<(), ApiError> {
        Ok(self.delete_user_impl(cx, input)?)
    }

    fn tag_user(&self, cx: &RequestContext, input: TagUserRequest) -> Result<(), ApiError> {
        Ok(self.tag_user_impl(cx, input)?)
    }

    fn untag_user(&self, cx: &RequestContext, input: UntagUserRequest) -> Result<(), ApiError> {
        Ok(self.untag_user_impl(cx, input)?)
    }

    fn list_user_tags(
        &self,
        cx: &RequestContext,
        input: ListUserTagsRequest,
    ) -> Result<ListUserTagsResponse, ApiError> {
        Ok(self.list_user_tags_impl(cx, input)?)
    }

    fn create_access_key(
        &self,
        cx: &RequestContext,
        input: CreateAccessKeyRequest,
    ) -> Result<CreateAccessKeyResponse, ApiError> {
        Ok(self.create_access_key_impl(cx, input)?)
    }

    fn list_access_keys(
        &self,
        cx: &RequestContext,
        input: ListAccessKeysRequest,
    ) -> Result<ListAccessKeysResponse, ApiError> {
        Ok(self.list_access_keys_impl(cx, input)?)
    }

    fn update_access_key(
        &self,
        cx: &RequestContext,
        input: UpdateAccessKeyRequest,
    ) -> Result<(), ApiError> {
        Ok(self.update_access_key_impl(cx, input)?)
    }

    fn delete_access_key(
        &self,
        cx: &RequestContext,
        input: DeleteAccessKeyRequest,
    ) -> Result<(), ApiError> {
        Ok(self.delete_access_key_impl(cx, input)?)
    }

    fn get_access_key_last_used(
        &self,
        cx: &RequestContext,
        input: GetAccessKeyLastUsedRequest,
    ) -> Result<GetAccessKeyLastUsedResponse, ApiError> {
        Ok(self.get_access_key_last_used_impl(cx, input)?)
    }

    fn put_user_policy(
        &self,
        cx: &RequestContext,
        input: PutUserPolicyRequest,
    ) -> Result<(), ApiError> {
        Ok(self.put_user_policy_impl(cx, input)?)
    }

    fn get_user_policy(
        &self,
        cx: &RequestContext,
        input: GetUserPolicyRequest,
    ) -> Result<GetUserPolicyResponse, ApiError> {
        Ok(self.get_user_policy_impl(cx, input)?)
    }

    fn delete_user_policy(
        &self,
        cx: &RequestContext,
        input: DeleteUserPolicyRequest,
    ) -> Result<(), ApiError> {
        Ok(self.delete_user_policy_impl(cx, input)?)
    }

    fn list_user_policies(
        &self,
        cx: &RequestContext,
        input: ListUserPoliciesRequest,
    ) -> Result<ListUserPoliciesResponse, ApiError> {
        Ok(self.list_user_policies_impl(cx, input)?)
    }

    fn simulate_custom_policy(
        &self,
        cx: &RequestContext,
        input: SimulateCustomPolicyRequest,
    ) -> Result<SimulateCustomPolicyResponse, ApiError> {
        Ok(self.simulate_custom_policy_impl(cx, input)?)
    }

    fn simulate_principal_policy(
        &self,
        cx: &RequestContext,
        input: SimulatePrincipalPolicyRequest,
    ) -> Result<SimulatePrincipalPolicyResponse, ApiError> {
        Ok(self.simulate_principal_policy_impl(cx, input)?)
    }

    fn get_context_keys_for_custom_policy(
        &self,
        cx: &RequestContext,
        input: GetContextKeysForCustomPolicyRequest,
    ) -> Result<GetContextKeysForCustomPolicyResponse, ApiError> {
        Ok(self.get_context_keys_for_custom_policy_impl(cx, input)?)
    }

    fn get_context_keys_for_principal_policy(
        &self,
        cx: &RequestContext,
        input: GetContextKeysForPrincipalPolicyRequest,
    ) -> Result<GetContextKeysForPrincipalPolicyResponse, ApiError> {
        Ok(self.get_context_keys_for_principal_policy_impl(cx, input)?)
    }
}
