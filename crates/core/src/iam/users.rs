//! IAM users: CreateUser, GetUser, ListUsers, UpdateUser, DeleteUser and their tags.

use gatehouse_protocol::iam::{
    AttachedPermissionsBoundary, CreateUserRequest, CreateUserResponse, DeleteUserRequest,
    GetUserRequest, GetUserResponse, ListUserTagsRequest, ListUserTagsResponse, ListUsersRequest,
    ListUsersResponse, PermissionsBoundaryAttachmentType, Tag, TagUserRequest, UntagUserRequest,
    UpdateUserRequest, User,
};
use gatehouse_types::{IdKind, Timestamp, new_unique_id};

use crate::Principal;
use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Result, randomness_unavailable};
use crate::iam::common::creating;
use crate::iam::common::renaming;
use crate::iam::common::{list_by_path, listing};
use crate::iam::tagging::{ByName, tag_operations};
use crate::model::entity::entity_fields;
use crate::model::entity::{self, BoundaryHolder, Dependent, Entity, Named, PolicyHolder};
use crate::model::records::{
    ATTACHED_POLICIES, INLINE_POLICIES, LOGIN_PROFILES, PRINCIPAL_KEYS, ROOT_OWNER, Record,
    SERVICE_CREDENTIALS, SIGNING_CERTIFICATES, SSH_PUBLIC_KEYS, USER_GROUPS, USER_MFA_DEVICES,
    USER_NAMES, USERS, UserRecord,
};
use crate::pipeline::{Call, Handler, Operation, operation};

impl Entity for UserRecord {
    const KIND: &'static str = "user";
    const NOUN: &'static str = "User";
    const TABLE: gatehouse_store::Table = USERS;
    const NAMES: gatehouse_store::Table = USER_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[
        Dependent {
            table: LOGIN_PROFILES,
            what: "delete login profile",
        },
        Dependent {
            table: PRINCIPAL_KEYS,
            what: "delete access keys",
        },
        Dependent {
            table: USER_MFA_DEVICES,
            what: "delete MFA device",
        },
        Dependent {
            table: INLINE_POLICIES,
            what: "delete policies",
        },
        Dependent {
            table: ATTACHED_POLICIES,
            what: "detach all policies",
        },
        Dependent {
            table: USER_GROUPS,
            what: "remove user from all groups",
        },
        Dependent {
            table: SSH_PUBLIC_KEYS,
            what: "delete SSH public keys",
        },
        Dependent {
            table: SIGNING_CERTIFICATES,
            what: "delete signing certificates",
        },
        Dependent {
            table: SERVICE_CREDENTIALS,
            what: "remove referenced objects",
        },
    ];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerUser", 50);
    const ACCOUNT_QUOTA: Option<&'static str> = Some(crate::model::quotas::USERS_PER_ACCOUNT);
    const TAG_ACTION: &'static str = "iam:TagUser";

    entity_fields!();
}

impl PolicyHolder for UserRecord {
    const INLINE_QUOTA: usize = 2048;
    const MANAGED_QUOTA: (&'static str, usize) = ("PoliciesPerUser", 10);
    const ADJUSTABLE_MANAGED_QUOTA: Option<&'static str> =
        Some(crate::model::quotas::MANAGED_POLICIES_PER_USER);
    fn policies_rev_mut(&mut self) -> &mut u64 {
        &mut self.policies_rev
    }
    fn attached(&self) -> &[String] {
        &self.attached_policies
    }
    fn attached_mut(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
}

impl BoundaryHolder for UserRecord {
    fn boundary_slot(&mut self) -> &mut Option<String> {
        &mut self.permissions_boundary
    }
}

pub(crate) fn user_shape(u: &UserRecord, with_tags: bool) -> User {
    User {
        path: u.path.clone(),
        user_name: u.name.clone(),
        user_id: u.id.clone(),
        arn: u.arn(),
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

pub(crate) fn tags_shape(tags: &[(String, String)]) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// A user a call names, as found (or not) in the caller's account.
pub(crate) type NamedUser = Named<UserRecord>;

/// Looks up the user a call names.
pub(crate) fn find_user(call: &mut Call<'_>, name: &str) -> Result<NamedUser> {
    Named::find(call.t, call.account(), name)
}

/// Whose credentials (access keys, certificates, …) a call is about.
pub(crate) struct CredentialOwner {
    /// A user id or `ROOT_OWNER`.
    pub id: String,
    /// The user name AWS reports (for root: none).
    pub user_name: Option<String>,
}

/// Who a call that may omit `UserName` is about: the named user, or the caller.
pub(crate) enum Subject {
    Root,
    User(Box<NamedUser>),
}

impl Subject {
    pub(crate) fn find(call: &mut Call<'_>, user_name: Option<&str>) -> Result<Subject> {
        match (user_name, &call.cx.caller.principal) {
            (Some(name), _) => Ok(Subject::User(Box::new(find_user(call, name)?))),
            (None, Principal::User(me)) => {
                let record = entity::by_id(call.t, call.account(), &me.id)?;
                Ok(Subject::User(Box::new(NamedUser {
                    name: me.name.clone(),
                    record,
                })))
            }
            (None, Principal::Root) => Ok(Subject::Root),
            (None, Principal::AssumedRole(_) | Principal::FederatedUser(_)) => {
                Err(gatehouse_protocol::error::ApiError::new(
                    gatehouse_protocol::error::ErrorCode::ValidationError,
                    "Must specify userName when calling with non-User credentials",
                )
                .into())
            }
        }
    }

    /// The owner of the credentials the call is about, once it is known to exist.
    pub(crate) fn owner(self) -> Result<CredentialOwner> {
        Ok(match self {
            Subject::Root => CredentialOwner {
                id: ROOT_OWNER.to_string(),
                user_name: None,
            },
            Subject::User(user) => {
                let user = (*user).existing()?;
                CredentialOwner {
                    id: user.id,
                    user_name: Some(user.name),
                }
            }
        })
    }

    pub(crate) fn access(&self, call: &Call<'_>, action: &'static str) -> Access {
        match self {
            Subject::Root => Access::to(action, call.cx.caller.arn()),
            Subject::User(user) => user.access(call.account(), action),
        }
    }
}

operation!(CreateUser, Iam, writes, CreateUserRequest => CreateUserResponse);
impl Handler for CreateUser {
    type Target = Vec<(String, String)>;

    fn resolve(call: &mut Call<'_>, input: &CreateUserRequest) -> Result<(Self::Target, Access)> {
        let path = input.path.as_deref().unwrap_or("/");
        let (tags, mut access) = creating::<UserRecord>(
            call,
            path,
            &input.user_name,
            input.tags.as_deref(),
            Self::ACTION,
        )?;
        if let Some(boundary) = &input.permissions_boundary {
            access = access.with("iam:PermissionsBoundary", vec![boundary.clone()]);
        }
        Ok((tags, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        tags: Self::Target,
        input: &CreateUserRequest,
    ) -> Result<CreateUserResponse> {
        let boundary = match &input.permissions_boundary {
            Some(arn) => Some(
                crate::iam::policies::policy_by_arn(call.t, call.account(), arn)?
                    .ok_or_else(|| crate::iam::policies::not_attachable(arn))?,
            ),
            None => None,
        };
        let mut record = UserRecord {
            v: UserRecord::VERSION,
            account: call.account().to_string(),
            name: input.user_name.clone(),
            id: new_unique_id(IdKind::User, &random().map_err(randomness_unavailable)?),
            path: input.path.clone().unwrap_or_else(|| "/".to_string()),
            create_date: call.cx.now.unix_millis,
            permissions_boundary: None,
            tags,
            password_last_used: None,
            policies_rev: 0,
            attached_policies: Vec::new(),
            groups: Vec::new(),
        };
        entity::create(call.t, &record)?;
        if boundary.is_some() {
            crate::iam::attachments::set_boundary(call.t, &mut record, boundary)?;
        }
        Ok(CreateUserResponse {
            user: Some(user_shape(&record, true)),
        })
    }
}

operation!(GetUser, Iam, reads, GetUserRequest => GetUserResponse);
impl Handler for GetUser {
    type Target = Subject;

    fn resolve(call: &mut Call<'_>, input: &GetUserRequest) -> Result<(Subject, Access)> {
        let subject = Subject::find(call, input.user_name.as_deref())?;
        let access = subject.access(call, Self::ACTION);
        Ok((subject, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        _: &GetUserRequest,
    ) -> Result<GetUserResponse> {
        let user = match subject {
            Subject::User(user) => user_shape(&(*user).existing()?, true),
            // AWS answers the root user's GetUser with its account-level identity.
            Subject::Root => User {
                path: String::new(),
                user_name: String::new(),
                user_id: call.account().to_string(),
                arn: call.cx.caller.arn(),
                create_date: account_created(call)?,
                password_last_used: None,
                permissions_boundary: None,
                tags: None,
            },
        };
        Ok(GetUserResponse { user })
    }
}

/// When the caller's account was set up (the root user's creation date).
fn account_created(call: &mut Call<'_>) -> Result<Timestamp> {
    use crate::model::records::{ACCOUNTS, AccountRecord, Records};
    let record: Option<AccountRecord> = call.t.get_record(ACCOUNTS, call.account())?;
    Ok(Timestamp::from_unix_millis(
        record.map_or(0, |account| account.created),
    ))
}

operation!(ListUsers, Iam, reads, ListUsersRequest => ListUsersResponse);
impl Handler for ListUsers {
    type Target = ();

    fn resolve(call: &mut Call<'_>, input: &ListUsersRequest) -> Result<((), Access)> {
        Ok((
            (),
            listing::<UserRecord>(call, input.path_prefix.as_deref(), Self::ACTION),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListUsersRequest,
    ) -> Result<ListUsersResponse> {
        let page = list_by_path::<UserRecord>(
            call,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListUsersResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker.clone(),
            users: page.items.iter().map(|u| user_shape(u, false)).collect(),
        })
    }
}

operation!(UpdateUser, Iam, writes, UpdateUserRequest => ());
impl Handler for UpdateUser {
    type Target = NamedUser;

    /// AWS needs the permission on the user as it is and as it will be: a caller allowed
    /// `user/dept/*` cannot move a user out of `/dept/` or rename it out of its scope.
    fn resolve(call: &mut Call<'_>, input: &UpdateUserRequest) -> Result<(NamedUser, Access)> {
        renaming::<UserRecord>(
            call,
            &input.user_name,
            input.new_user_name.as_deref(),
            input.new_path.as_deref(),
            Self::ACTION,
        )
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        input: &UpdateUserRequest,
    ) -> Result<()> {
        let mut user = user.existing()?;
        entity::rename(
            call.t,
            &mut user,
            input.new_user_name.as_deref(),
            input.new_path.as_deref(),
        )
    }
}

operation!(DeleteUser, Iam, writes, DeleteUserRequest => ());
impl Handler for DeleteUser {
    type Target = NamedUser;

    fn resolve(call: &mut Call<'_>, input: &DeleteUserRequest) -> Result<(NamedUser, Access)> {
        let user = find_user(call, &input.user_name)?;
        let access = user.access(call.account(), Self::ACTION);
        Ok((user, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: NamedUser,
        _: &DeleteUserRequest,
    ) -> Result<()> {
        let user = user.existing()?;
        entity::delete(call.t, &user)?;
        // A boundary does not hold a user back; its policy's usage count goes down.
        if let Some(boundary) = &user.permissions_boundary {
            crate::iam::attachments::release_boundary(call.t, &user.account, boundary)?;
        }
        Ok(())
    }
}

tag_operations!(
    ByName<UserRecord>, user_name,
    TagUser(TagUserRequest),
    UntagUser(UntagUserRequest),
    ListUserTags(ListUserTagsRequest => ListUserTagsResponse)
);
