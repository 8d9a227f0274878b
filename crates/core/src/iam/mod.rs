//! The IAM API: each operation's handler lives in this module's files, one family a file;
//! the generated [`IamApi`] trait is implemented by routing every listed operation through
//! the one pipeline (`crate::pipeline`).

mod access_keys;
mod simulate;
mod user_policies;
mod users;

pub(crate) use user_policies::parse_policy;

use gatehouse_protocol::iam::IamApi;

use crate::pipeline::operations;

operations!(IamApi {
    create_access_key => access_keys::CreateAccessKey,
    create_user => users::CreateUser,
    delete_access_key => access_keys::DeleteAccessKey,
    delete_user => users::DeleteUser,
    delete_user_policy => user_policies::DeleteUserPolicy,
    get_access_key_last_used => access_keys::GetAccessKeyLastUsed,
    get_context_keys_for_custom_policy => simulate::GetContextKeysForCustomPolicy,
    get_context_keys_for_principal_policy => simulate::GetContextKeysForPrincipalPolicy,
    get_user => users::GetUser,
    get_user_policy => user_policies::GetUserPolicy,
    list_access_keys => access_keys::ListAccessKeys,
    list_user_policies => user_policies::ListUserPolicies,
    list_user_tags => users::ListUserTags,
    list_users => users::ListUsers,
    put_user_policy => user_policies::PutUserPolicy,
    simulate_custom_policy => simulate::SimulateCustomPolicy,
    simulate_principal_policy => simulate::SimulatePrincipalPolicy,
    tag_user => users::TagUser,
    untag_user => users::UntagUser,
    update_access_key => access_keys::UpdateAccessKey,
    update_user => users::UpdateUser,
});
