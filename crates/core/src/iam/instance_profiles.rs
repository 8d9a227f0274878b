//! Instance profiles: CreateInstanceProfile, GetInstanceProfile, ListInstanceProfiles,
//! DeleteInstanceProfile, AddRoleToInstanceProfile (which passes the role, so it needs
//! `iam:PassRole` on it too), RemoveRoleFromInstanceProfile, ListInstanceProfilesForRole, and
//! their tags.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    AddRoleToInstanceProfileRequest, CreateInstanceProfileRequest, CreateInstanceProfileResponse,
    DeleteInstanceProfileRequest, GetInstanceProfileRequest, GetInstanceProfileResponse,
    InstanceProfile, ListInstanceProfileTagsRequest, ListInstanceProfileTagsResponse,
    ListInstanceProfilesForRoleRequest, ListInstanceProfilesForRoleResponse,
    ListInstanceProfilesRequest, ListInstanceProfilesResponse,
    RemoveRoleFromInstanceProfileRequest, TagInstanceProfileRequest, UntagInstanceProfileRequest,
};
use gatehouse_store::Txn;
use gatehouse_types::{IdKind, Timestamp, new_unique_id};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Result, limit_exceeded, randomness_unavailable};
use crate::iam::common::creating;
use crate::iam::common::{list_by_path, listing, named};
use crate::iam::roles::role_shape;
use crate::iam::tagging::{ByName, tag_operations};
use crate::iam::users::tags_shape;
use crate::model::entity::entity_fields;
use crate::model::entity::{self, Dependent, Entity, Named};
use crate::model::pagination::PageRequest;
use crate::model::records::{
    INSTANCE_PROFILE_NAMES, INSTANCE_PROFILES, InstanceProfileRecord, PROFILE_ROLES, ROLE_PROFILES,
    Record, RoleRecord,
};
use crate::model::relation::Relation;
use crate::pipeline::{Call, Handler, Operation, operation};

/// Instance profiles and their roles, both ways.
pub const PROFILE_ROLE: Relation = Relation {
    forward: PROFILE_ROLES,
    backward: ROLE_PROFILES,
};

/// AWS lets an instance profile hold one role.
pub const MAX_ROLES_PER_PROFILE: usize = 1;

impl Entity for InstanceProfileRecord {
    const KIND: &'static str = "instance-profile";
    const NOUN: &'static str = "Instance Profile";
    const TABLE: gatehouse_store::Table = INSTANCE_PROFILES;
    const NAMES: gatehouse_store::Table = INSTANCE_PROFILE_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[Dependent {
        table: PROFILE_ROLES,
        what: "remove roles from instance profile",
    }];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerInstanceProfile", 50);
    const ACCOUNT_QUOTA: Option<&'static str> =
        Some(crate::model::quotas::INSTANCE_PROFILES_PER_ACCOUNT);
    const TAG_ACTION: &'static str = "iam:TagInstanceProfile";

    entity_fields!();

    fn no_such(name: &str) -> crate::errors::Failure {
        ApiError::new(
            ErrorCode::NoSuchEntity,
            format!("Instance Profile {name} cannot be found."),
        )
        .into()
    }
}

pub(crate) fn profile_shape(
    t: &mut (impl Txn + ?Sized),
    p: &InstanceProfileRecord,
    with_tags: bool,
) -> Result<InstanceProfile> {
    let mut roles = Vec::with_capacity(p.roles.len());
    for id in &p.roles {
        if let Some(role) = entity::by_id::<RoleRecord>(t, &p.account, id)? {
            roles.push(role_shape(&role, false));
        }
    }
    Ok(InstanceProfile {
        path: p.path.clone(),
        instance_profile_name: p.name.clone(),
        instance_profile_id: p.id.clone(),
        arn: p.arn(),
        create_date: Timestamp::from_unix_millis(p.create_date),
        roles,
        tags: (with_tags && !p.tags.is_empty()).then(|| tags_shape(&p.tags)),
    })
}

operation!(CreateInstanceProfile, Iam, writes, CreateInstanceProfileRequest => CreateInstanceProfileResponse);
impl Handler for CreateInstanceProfile {
    type Target = Vec<(String, String)>;

    fn resolve(
        call: &mut Call<'_>,
        input: &CreateInstanceProfileRequest,
    ) -> Result<(Self::Target, Access)> {
        let path = input.path.as_deref().unwrap_or("/");
        creating::<InstanceProfileRecord>(
            call,
            path,
            &input.instance_profile_name,
            input.tags.as_deref(),
            Self::ACTION,
        )
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        tags: Self::Target,
        input: &CreateInstanceProfileRequest,
    ) -> Result<CreateInstanceProfileResponse> {
        let record = InstanceProfileRecord {
            v: InstanceProfileRecord::VERSION,
            account: call.account().to_string(),
            name: input.instance_profile_name.clone(),
            id: new_unique_id(
                IdKind::InstanceProfile,
                &random().map_err(randomness_unavailable)?,
            ),
            path: input.path.clone().unwrap_or_else(|| "/".to_string()),
            create_date: call.cx.now.unix_millis,
            roles: Vec::new(),
            tags,
        };
        entity::create(call.t, &record)?;
        Ok(CreateInstanceProfileResponse {
            instance_profile: profile_shape(call.t, &record, true)?,
        })
    }
}

operation!(GetInstanceProfile, Iam, reads, GetInstanceProfileRequest => GetInstanceProfileResponse);
impl Handler for GetInstanceProfile {
    type Target = Named<InstanceProfileRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &GetInstanceProfileRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.instance_profile_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        profile: Self::Target,
        _: &GetInstanceProfileRequest,
    ) -> Result<GetInstanceProfileResponse> {
        let profile = profile.existing()?;
        Ok(GetInstanceProfileResponse {
            instance_profile: profile_shape(call.t, &profile, true)?,
        })
    }
}

operation!(ListInstanceProfiles, Iam, reads, ListInstanceProfilesRequest => ListInstanceProfilesResponse);
impl Handler for ListInstanceProfiles {
    type Target = ();
    fn resolve(call: &mut Call<'_>, input: &ListInstanceProfilesRequest) -> Result<((), Access)> {
        Ok((
            (),
            listing::<InstanceProfileRecord>(call, input.path_prefix.as_deref(), Self::ACTION),
        ))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListInstanceProfilesRequest,
    ) -> Result<ListInstanceProfilesResponse> {
        let page = list_by_path::<InstanceProfileRecord>(
            call,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        let mut profiles = Vec::with_capacity(page.items.len());
        for p in &page.items {
            profiles.push(profile_shape(call.t, p, false)?);
        }
        Ok(ListInstanceProfilesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            instance_profiles: profiles,
        })
    }
}

operation!(DeleteInstanceProfile, Iam, writes, DeleteInstanceProfileRequest => ());
impl Handler for DeleteInstanceProfile {
    type Target = Named<InstanceProfileRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteInstanceProfileRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.instance_profile_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        profile: Self::Target,
        _: &DeleteInstanceProfileRequest,
    ) -> Result<()> {
        entity::delete(call.t, &profile.existing()?)
    }
}

/// An instance profile and a role a call names, as found.
pub(crate) struct ProfileAndRole {
    profile: Named<InstanceProfileRecord>,
    role: Named<RoleRecord>,
}

operation!(AddRoleToInstanceProfile, Iam, writes, AddRoleToInstanceProfileRequest => ());
impl Handler for AddRoleToInstanceProfile {
    type Target = ProfileAndRole;

    /// Putting a role in a profile hands it to whatever launches with the profile: AWS checks
    /// `iam:PassRole` on the role, passed to EC2, for the profile.
    fn resolve(
        call: &mut Call<'_>,
        input: &AddRoleToInstanceProfileRequest,
    ) -> Result<(Self::Target, Access)> {
        let (profile, access) =
            named::<InstanceProfileRecord>(call, &input.instance_profile_name, Self::ACTION)?;
        let role = Named::<RoleRecord>::find(call.t, call.account(), &input.role_name)?;
        let access = access.and_with(
            "iam:PassRole",
            role.arn(call.account()),
            vec![
                (
                    "iam:PassedToService".to_string(),
                    vec!["ec2.amazonaws.com".to_string()],
                ),
                (
                    "iam:AssociatedResourceArn".to_string(),
                    vec![profile.arn(call.account())],
                ),
            ],
        );
        Ok((ProfileAndRole { profile, role }, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        _: &AddRoleToInstanceProfileRequest,
    ) -> Result<()> {
        let mut profile = target.profile.existing()?;
        let role = target.role.existing()?;
        if profile.roles.len() >= MAX_ROLES_PER_PROFILE {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for InstanceSessionsPerInstanceProfile: {MAX_ROLES_PER_PROFILE}"
            )));
        }
        PROFILE_ROLE.link(call.t, &profile.account, &profile.id, &role.id)?;
        profile.roles.push(role.id);
        entity::save(call.t, &profile)
    }
}

operation!(RemoveRoleFromInstanceProfile, Iam, writes, RemoveRoleFromInstanceProfileRequest => ());
impl Handler for RemoveRoleFromInstanceProfile {
    type Target = ProfileAndRole;

    fn resolve(
        call: &mut Call<'_>,
        input: &RemoveRoleFromInstanceProfileRequest,
    ) -> Result<(Self::Target, Access)> {
        let (profile, access) =
            named::<InstanceProfileRecord>(call, &input.instance_profile_name, Self::ACTION)?;
        let role = Named::<RoleRecord>::find(call.t, call.account(), &input.role_name)?;
        Ok((ProfileAndRole { profile, role }, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &RemoveRoleFromInstanceProfileRequest,
    ) -> Result<()> {
        let mut profile = target.profile.existing()?;
        let role = target.role.existing()?;
        if !profile.roles.contains(&role.id) {
            return Err(ApiError::new(
                ErrorCode::NoSuchEntity,
                format!(
                    "Role {} in Instance Profile {} cannot be found.",
                    input.role_name, input.instance_profile_name
                ),
            )
            .into());
        }
        PROFILE_ROLE.unlink(call.t, &profile.account, &profile.id, &role.id)?;
        profile.roles.retain(|id| *id != role.id);
        entity::save(call.t, &profile)
    }
}

operation!(ListInstanceProfilesForRole, Iam, reads, ListInstanceProfilesForRoleRequest => ListInstanceProfilesForRoleResponse);
impl Handler for ListInstanceProfilesForRole {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &ListInstanceProfilesForRoleRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &ListInstanceProfilesForRoleRequest,
    ) -> Result<ListInstanceProfilesForRoleResponse> {
        let role = role.existing()?;
        let mut profiles = Vec::new();
        for id in PROFILE_ROLE.sources(call.t, &role.account, &role.id)? {
            profiles.extend(entity::by_id::<InstanceProfileRecord>(
                call.t,
                &role.account,
                &id,
            )?);
        }
        profiles.sort_by_key(|p| p.name.to_lowercase());
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(profiles, |p| p.id.clone())?;
        let mut shaped = Vec::with_capacity(page.items.len());
        for p in &page.items {
            shaped.push(profile_shape(call.t, p, false)?);
        }
        Ok(ListInstanceProfilesForRoleResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            instance_profiles: shaped,
        })
    }
}

tag_operations!(
    ByName<InstanceProfileRecord>, instance_profile_name,
    TagInstanceProfile(TagInstanceProfileRequest),
    UntagInstanceProfile(UntagInstanceProfileRequest),
    ListInstanceProfileTags(ListInstanceProfileTagsRequest => ListInstanceProfileTagsResponse)
);
