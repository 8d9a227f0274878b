//! IAM users: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser and their tags.

use gatehouse_protocol::iam::{
    AttachedPermissionsBoundary, CreateUserRequest, CreateUserResponse, DeleteUserRequest,
    GetUserRequest, GetUserResponse, ListUserTagsRequest, ListUserTagsResponse, ListUsersRequest,
    ListUsersResponse, PermissionsBoundaryAttachmentType, Tag, TagUserRequest, UntagUserRequest,
    UpdateUserRequest, User,
};
use gatehouse_store::{read, write};
use gatehouse_types::{IdKind, Timestamp, new_unique_id};

use crate::crypto::random;
use crate::errors::{
    Result, delete_conflict, invalid_input, limit_exceeded, no_such_user, randomness_unavailable,
    user_exists,
};
use crate::pagination::{paginate, paginate_vec};
use crate::records::{FORMAT_VERSION, Records, USER_IDS, USER_POLICIES, USERS, UserRecord};
use crate::{Gatehouse, Principal, RequestContext};

/// AWS's quota of tags on one IAM resource.
pub const MAX_TAGS: usize = 50;

impl Gatehouse {
    pub(crate) fn user_arn(&self, path: &str, name: &str) -> String {
        format!("arn:aws:iam::{}:user{path}{name}", self.account)
    }

    pub(crate) fn user_shape(&self, u: &UserRecord, with_tags: bool) -> User {
        User {
            path: u.path.clone(),
            user_name: u.name.clone(),
            user_id: u.id.clone(),
            arn: self.user_arn(&u.path, &u.name),
            create_date: Timestamp::from_unix_millis(u.create_date),
            password_last_used: u.password_last_used.map(Timestamp::from_unix_millis),
            permissions_boundary: u.permissions_boundary.as_ref().map(|arn| {
                AttachedPermissionsBoundary {
                    permissions_boundary_type: Some(
                        PermissionsBoundaryAttachmentType::PermissionsBoundaryPolicy,
                    ),
                    permissions_boundary_arn: Some(arn.clone()),
                }
            }),
            tags: (with_tags && !u.tags.is_empty()).then(|| tags_shape(&u.tags)),
        }
    }

    /// User `name` as of the store's current generation (served from memory when nothing has
    /// been written since it was last read).
    fn cached_user(&self, name: &str) -> Result<Option<UserRecord>> {
        let generation = self.store.generation();
        Ok(self
            .users_by_name
            .get_or_load(generation, &name.to_lowercase(), || {
                read(self.store.as_ref(), |t| t.user_by_name(name))
            })?)
    }

    /// The ARN to authorize a call on user `name` against: the real one when the user exists,
    /// `user/NAME` otherwise (authorization comes before existence, so a caller without
    /// permission learns nothing about which users exist).
    fn resource_of(&self, user: Option<&UserRecord>, name: &str) -> String {
        match user {
            Some(u) => self.user_arn(&u.path, &u.name),
            None => self.user_arn("/", name),
        }
    }

    pub(crate) fn user_resource(&self, name: &str) -> Result<String> {
        Ok(self.resource_of(self.cached_user(name)?.as_ref(), name))
    }

    /// Reads user `name` once, authorizes `action` on it, and returns it (or NoSuchEntity,
    /// but only to a caller allowed to ask).
    pub(crate) fn authorized_user(
        &self,
        cx: &RequestContext,
        action: &str,
        name: &str,
    ) -> Result<UserRecord> {
        let user = self.cached_user(name)?;
        self.authorize(cx, action, &self.resource_of(user.as_ref(), name))?;
        user.ok_or_else(|| no_such_user(name))
    }

    pub(crate) fn create_user_impl(
        &self,
        cx: &RequestContext,
        input: CreateUserRequest,
    ) -> Result<CreateUserResponse> {
        let path = input.path.unwrap_or_else(|| "/".to_string());
        self.authorize(
            cx,
            "iam:CreateUser",
            &self.user_arn(&path, &input.user_name),
        )?;
        let tags = checked_tags(input.tags.unwrap_or_default())?;
        if let Some(arn) = &input.permissions_boundary {
            self.check_boundary_policy(arn)?;
        }
        let id = new_unique_id(IdKind::User, &random().map_err(randomness_unavailable)?);
        let record = UserRecord {
            v: FORMAT_VERSION,
            name: input.user_name.clone(),
            id,
            path,
            create_date: cx.now.unix_millis,
            permissions_boundary: input.permissions_boundary,
            tags,
            password_last_used: None,
        };
        write(self.store.as_ref(), |t| {
            if !t.insert_json(USERS, &record.name.to_lowercase(), &record)? {
                return Err(user_exists(&input.user_name));
            }
            t.put(USER_IDS, &record.id, record.name.to_lowercase().as_bytes())?;
            Ok(())
        })?;
        Ok(CreateUserResponse {
            user: Some(self.user_shape(&record, true)),
        })
    }

    pub(crate) fn get_user_impl(
        &self,
        cx: &RequestContext,
        input: GetUserRequest,
    ) -> Result<GetUserResponse> {
        let name = match (input.user_name, &cx.caller.principal) {
            (Some(name), _) => name,
            (None, Principal::User { name, .. }) => name.clone(),
            (None, Principal::Root) => {
                // AWS answers the root user's GetUser with its account-level identity.
                self.authorize(cx, "iam:GetUser", &self.principal_arn(&Principal::Root))?;
                return Ok(GetUserResponse {
                    user: User {
                        path: String::new(),
                        user_name: String::new(),
                        user_id: self.account.to_string(),
                        arn: self.principal_arn(&Principal::Root),
                        create_date: self.account_created()?,
                        password_last_used: None,
                        permissions_boundary: None,
                        tags: None,
                    },
                });
            }
        };
        let user = self.authorized_user(cx, "iam:GetUser", &name)?;
        Ok(GetUserResponse {
            user: self.user_shape(&user, true),
        })
    }

    pub(crate) fn list_users_impl(
        &self,
        cx: &RequestContext,
        input: ListUsersRequest,
    ) -> Result<ListUsersResponse> {
        let prefix = input.path_prefix.unwrap_or_else(|| "/".to_string());
        // AWS authorizes a listing against the path it lists: `user/` for everything.
        self.authorize(cx, "iam:ListUsers", &self.user_arn(&prefix, ""))?;
        let page = read(self.store.as_ref(), |t| {
            paginate(
                t,
                USERS,
                "",
                input.marker.as_deref(),
                input.max_items,
                |u: &UserRecord| u.path.starts_with(&prefix),
            )
        })?;
        Ok(ListUsersResponse {
            is_truncated: Some(page.is_truncated()),
            users: page
                .items
                .iter()
                .map(|u| self.user_shape(u, false))
                .collect(),
            marker: page.next_marker,
        })
    }

    pub(crate) fn update_user_impl(
        &self,
        cx: &RequestContext,
        input: UpdateUserRequest,
    ) -> Result<()> {
        self.authorize(cx, "iam:UpdateUser", &self.user_resource(&input.user_name)?)?;
        write(self.store.as_ref(), |t| {
            let mut user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            let old_key = user.name.to_lowercase();
            if let Some(path) = &input.new_path {
                user.path = path.clone();
            }
            if let Some(new_name) = &input.new_user_name {
                let new_key = new_name.to_lowercase();
                if new_key != old_key && t.get(USERS, &new_key)?.is_some() {
                    return Err(user_exists(new_name));
                }
                user.name = new_name.clone();
                t.delete(USERS, &old_key)?;
                t.put(USER_IDS, &user.id, new_key.as_bytes())?;
            }
            t.put_json(USERS, &user.name.to_lowercase(), &user)?;
            Ok(())
        })
    }

    pub(crate) fn delete_user_impl(
        &self,
        cx: &RequestContext,
        input: DeleteUserRequest,
    ) -> Result<()> {
        self.authorize(cx, "iam:DeleteUser", &self.user_resource(&input.user_name)?)?;
        write(self.store.as_ref(), |t| {
            let user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            // AWS refuses while anything is still attached to the user, naming the first kind.
            if !t.key_ids_of(&user.id)?.is_empty() {
                return Err(delete_conflict("delete access keys"));
            }
            if t.count(USER_POLICIES, &format!("{}/", user.id))? > 0 {
                return Err(delete_conflict("delete policies"));
            }
            t.delete(USERS, &user.name.to_lowercase())?;
            t.delete(USER_IDS, &user.id)?;
            Ok(())
        })
    }

    pub(crate) fn tag_user_impl(&self, cx: &RequestContext, input: TagUserRequest) -> Result<()> {
        self.authorize(cx, "iam:TagUser", &self.user_resource(&input.user_name)?)?;
        let new_tags = checked_tags(input.tags)?;
        write(self.store.as_ref(), |t| {
            let mut user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            for (key, value) in &new_tags {
                match user
                    .tags
                    .iter_mut()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                {
                    Some(existing) => *existing = (key.clone(), value.clone()),
                    None => user.tags.push((key.clone(), value.clone())),
                }
            }
            if user.tags.len() > MAX_TAGS {
                return Err(limit_exceeded(format!(
                    "Cannot exceed quota for TagsPerUser: {MAX_TAGS}"
                )));
            }
            t.put_json(USERS, &user.name.to_lowercase(), &user)?;
            Ok(())
        })
    }

    pub(crate) fn untag_user_impl(
        &self,
        cx: &RequestContext,
        input: UntagUserRequest,
    ) -> Result<()> {
        self.authorize(cx, "iam:UntagUser", &self.user_resource(&input.user_name)?)?;
        write(self.store.as_ref(), |t| {
            let mut user = t
                .user_by_name(&input.user_name)?
                .ok_or_else(|| no_such_user(&input.user_name))?;
            user.tags.retain(|(k, _)| {
                !input
                    .tag_keys
                    .iter()
                    .any(|gone| gone.eq_ignore_ascii_case(k))
            });
            t.put_json(USERS, &user.name.to_lowercase(), &user)?;
            Ok(())
        })
    }

    pub(crate) fn list_user_tags_impl(
        &self,
        cx: &RequestContext,
        input: ListUserTagsRequest,
    ) -> Result<ListUserTagsResponse> {
        let user = self.authorized_user(cx, "iam:ListUserTags", &input.user_name)?;
        let page = paginate_vec(
            tags_shape(&user.tags),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListUserTagsResponse {
            is_truncated: Some(page.is_truncated()),
            tags: page.items,
            marker: page.next_marker,
        })
    }

    /// A permissions boundary must name a managed policy that exists.
    fn check_boundary_policy(&self, arn: &str) -> Result<()> {
        // Managed policies are not stored yet (they arrive with the policy APIs), so no ARN can
        // name an existing one; AWS's answer for a missing policy is this NoSuchEntity.
        Err(gatehouse_protocol::error::ApiError::new(
            gatehouse_protocol::error::ErrorCode::NoSuchEntity,
            format!("Policy {arn} does not exist or is not attachable."),
        )
        .into())
    }
}

fn tags_shape(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// Tag keys are unique case-insensitively within one request.
fn checked_tags(tags: Vec<Tag>) -> Result<Vec<(String, String)>> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(tags.len());
    for tag in tags {
        if out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&tag.key)) {
            return Err(invalid_input(
                "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
            ));
        }
        out.push((tag.key, tag.value));
    }
    Ok(out)
}
