//! IAM groups and membership: CreateGroup, GetGroup, ListGroups, UpdateGroup, DeleteGroup,
//! AddUserToGroup, RemoveUserFromGroup, ListGroupsForUser.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    AddUserToGroupRequest, CreateGroupRequest, CreateGroupResponse, DeleteGroupRequest,
    GetGroupRequest, GetGroupResponse, Group, ListGroupsForUserRequest, ListGroupsForUserResponse,
    ListGroupsRequest, ListGroupsResponse, RemoveUserFromGroupRequest, UpdateGroupRequest,
};
use gatehouse_types::{IdKind, Timestamp, new_unique_id};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Result, limit_exceeded, randomness_unavailable};
use crate::iam::common::renaming;
use crate::iam::common::{list_by_path, listing, named};
use crate::iam::users::user_shape;
use crate::model::entity::entity_fields;
use crate::model::entity::{self, Dependent, Entity, Named, PolicyHolder, arn_of};
use crate::model::pagination::PageRequest;
use crate::model::records::{
    ATTACHED_POLICIES, GROUP_MEMBERS, GROUP_NAMES, GROUPS, GroupRecord, INLINE_POLICIES, Record,
    USER_GROUPS, UserRecord,
};
use crate::model::relation::Relation;
use crate::pipeline::{Call, Handler, Operation, operation};

/// Users and their groups, both ways.
pub const MEMBERSHIP: Relation = Relation {
    forward: USER_GROUPS,
    backward: GROUP_MEMBERS,
};

/// AWS's quota of groups a user may be in.
pub const MAX_GROUPS_PER_USER: usize = 10;

impl Entity for GroupRecord {
    const KIND: &'static str = "group";
    const NOUN: &'static str = "Group";
    const TABLE: gatehouse_store::Table = GROUPS;
    const NAMES: gatehouse_store::Table = GROUP_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[
        Dependent {
            table: GROUP_MEMBERS,
            what: "remove users from group",
        },
        Dependent {
            table: INLINE_POLICIES,
            what: "delete policies",
        },
        Dependent {
            table: ATTACHED_POLICIES,
            what: "detach all policies",
        },
    ];
    /// Groups cannot be tagged in AWS.
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerGroup", 0);
    const ACCOUNT_QUOTA: Option<&'static str> = Some(crate::model::quotas::GROUPS_PER_ACCOUNT);
    const TAG_ACTION: &'static str = "";

    entity_fields!(untagged);
}

impl PolicyHolder for GroupRecord {
    const INLINE_QUOTA: usize = 5120;
    const MANAGED_QUOTA: (&'static str, usize) = ("PoliciesPerGroup", 10);
    fn policies_changed_for_others(&self, t: &mut dyn gatehouse_store::Txn) -> Result<()> {
        crate::iam::revisions::group_changed(t, self)
    }
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

fn group_shape(g: &GroupRecord) -> Group {
    Group {
        path: g.path.clone(),
        group_name: g.name.clone(),
        group_id: g.id.clone(),
        arn: g.arn(),
        create_date: Timestamp::from_unix_millis(g.create_date),
    }
}

operation!(CreateGroup, Iam, writes, CreateGroupRequest => CreateGroupResponse);
impl Handler for CreateGroup {
    type Target = ();

    fn resolve(call: &mut Call<'_>, input: &CreateGroupRequest) -> Result<((), Access)> {
        let path = input.path.as_deref().unwrap_or("/");
        let arn = arn_of::<GroupRecord>(call.account(), path, &input.group_name);
        Ok(((), Access::to(Self::ACTION, arn)))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &CreateGroupRequest,
    ) -> Result<CreateGroupResponse> {
        let record = GroupRecord {
            v: GroupRecord::VERSION,
            account: call.account().to_string(),
            name: input.group_name.clone(),
            id: new_unique_id(IdKind::Group, &random().map_err(randomness_unavailable)?),
            path: input.path.clone().unwrap_or_else(|| "/".to_string()),
            create_date: call.cx.now.unix_millis,
            policies_rev: 0,
            attached_policies: Vec::new(),
        };
        entity::create(call.t, &record)?;
        Ok(CreateGroupResponse {
            group: group_shape(&record),
        })
    }
}

operation!(GetGroup, Iam, reads, GetGroupRequest => GetGroupResponse);
impl Handler for GetGroup {
    type Target = Named<GroupRecord>;

    fn resolve(call: &mut Call<'_>, input: &GetGroupRequest) -> Result<(Self::Target, Access)> {
        named(call, &input.group_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        input: &GetGroupRequest,
    ) -> Result<GetGroupResponse> {
        let group = group.existing()?;
        let mut members: Vec<UserRecord> = Vec::new();
        for id in MEMBERSHIP.sources(call.t, &group.account, &group.id)? {
            members.extend(entity::by_id::<UserRecord>(call.t, &group.account, &id)?);
        }
        members.sort_by_key(|u| u.name.to_lowercase());
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(members, |u| u.id.clone())?;
        Ok(GetGroupResponse {
            group: group_shape(&group),
            users: page.items.iter().map(|u| user_shape(u, false)).collect(),
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
        })
    }
}

operation!(ListGroups, Iam, reads, ListGroupsRequest => ListGroupsResponse);
impl Handler for ListGroups {
    type Target = ();

    fn resolve(call: &mut Call<'_>, input: &ListGroupsRequest) -> Result<((), Access)> {
        Ok((
            (),
            listing::<GroupRecord>(call, input.path_prefix.as_deref(), Self::ACTION),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListGroupsRequest,
    ) -> Result<ListGroupsResponse> {
        let page = list_by_path::<GroupRecord>(
            call,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListGroupsResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker.clone(),
            groups: page.items.iter().map(group_shape).collect(),
        })
    }
}

operation!(UpdateGroup, Iam, writes, UpdateGroupRequest => ());
impl Handler for UpdateGroup {
    type Target = Named<GroupRecord>;

    /// AWS needs the permission on the group as it is and as it will be.
    fn resolve(call: &mut Call<'_>, input: &UpdateGroupRequest) -> Result<(Self::Target, Access)> {
        renaming::<GroupRecord>(
            call,
            &input.group_name,
            input.new_group_name.as_deref(),
            input.new_path.as_deref(),
            Self::ACTION,
        )
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        input: &UpdateGroupRequest,
    ) -> Result<()> {
        let mut group = group.existing()?;
        entity::rename(
            call.t,
            &mut group,
            input.new_group_name.as_deref(),
            input.new_path.as_deref(),
        )
    }
}

operation!(DeleteGroup, Iam, writes, DeleteGroupRequest => ());
impl Handler for DeleteGroup {
    type Target = Named<GroupRecord>;

    fn resolve(call: &mut Call<'_>, input: &DeleteGroupRequest) -> Result<(Self::Target, Access)> {
        named(call, &input.group_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        group: Self::Target,
        _: &DeleteGroupRequest,
    ) -> Result<()> {
        entity::delete(call.t, &group.existing()?)
    }
}

/// A group and a user a call names, as found.
pub(crate) struct GroupAndUser {
    group: Named<GroupRecord>,
    user: Named<UserRecord>,
}

/// AWS authorizes membership changes against the group.
fn resolve_membership(
    call: &mut Call<'_>,
    group_name: &str,
    user_name: &str,
    action: &'static str,
) -> Result<(GroupAndUser, Access)> {
    let (group, access) = named::<GroupRecord>(call, group_name, action)?;
    let user = Named::<UserRecord>::find(call.t, call.account(), user_name)?;
    Ok((GroupAndUser { group, user }, access))
}

operation!(AddUserToGroup, Iam, writes, AddUserToGroupRequest => ());
impl Handler for AddUserToGroup {
    type Target = GroupAndUser;

    fn resolve(
        call: &mut Call<'_>,
        input: &AddUserToGroupRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve_membership(call, &input.group_name, &input.user_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        _: &AddUserToGroupRequest,
    ) -> Result<()> {
        let group = target.group.existing()?;
        let mut user = target.user.existing()?;
        // Adding a member again changes nothing, as in AWS.
        if user.groups.contains(&group.id) {
            return Ok(());
        }
        if user.groups.len() >= MAX_GROUPS_PER_USER {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for GroupsPerUser: {MAX_GROUPS_PER_USER}"
            )));
        }
        MEMBERSHIP.link(call.t, &user.account, &user.id, &group.id)?;
        user.groups.push(group.id);
        // The user's policies now include the group's.
        user.policies_rev += 1;
        entity::save(call.t, &user)
    }
}

operation!(RemoveUserFromGroup, Iam, writes, RemoveUserFromGroupRequest => ());
impl Handler for RemoveUserFromGroup {
    type Target = GroupAndUser;

    fn resolve(
        call: &mut Call<'_>,
        input: &RemoveUserFromGroupRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve_membership(call, &input.group_name, &input.user_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &RemoveUserFromGroupRequest,
    ) -> Result<()> {
        let group = target.group.existing()?;
        let mut user = target.user.existing()?;
        if !user.groups.contains(&group.id) {
            return Err(ApiError::new(
                ErrorCode::NoSuchEntity,
                format!(
                    "User {} is not in group {}.",
                    input.user_name, input.group_name
                ),
            )
            .into());
        }
        MEMBERSHIP.unlink(call.t, &user.account, &user.id, &group.id)?;
        user.groups.retain(|id| *id != group.id);
        user.policies_rev += 1;
        entity::save(call.t, &user)
    }
}

operation!(ListGroupsForUser, Iam, reads, ListGroupsForUserRequest => ListGroupsForUserResponse);
impl Handler for ListGroupsForUser {
    type Target = Named<UserRecord>;

    fn resolve(
        call: &mut Call<'_>,
        input: &ListGroupsForUserRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.user_name, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        user: Self::Target,
        input: &ListGroupsForUserRequest,
    ) -> Result<ListGroupsForUserResponse> {
        let user = user.existing()?;
        let mut groups = Vec::with_capacity(user.groups.len());
        for id in &user.groups {
            groups.extend(entity::by_id::<GroupRecord>(call.t, &user.account, id)?);
        }
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(groups, |g| g.id.clone())?;
        Ok(ListGroupsForUserResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            groups: page.items.iter().map(group_shape).collect(),
        })
    }
}
