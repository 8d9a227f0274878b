//! IAM roles: CreateRole, GetRole, ListRoles, UpdateRole, UpdateRoleDescription,
//! UpdateAssumeRolePolicy, DeleteRole, their tags, inline policies, attachments and
//! permissions boundary. (Assuming a role arrives with STS.)

use gatehouse_policy::{PolicyKind, policy_size};
use gatehouse_protocol::iam::{
    AttachedPermissionsBoundary, CreateRoleRequest, CreateRoleResponse,
    DeleteRolePermissionsBoundaryRequest, DeleteRoleRequest, GetRoleRequest, GetRoleResponse,
    ListRoleTagsRequest, ListRoleTagsResponse, ListRolesRequest, ListRolesResponse,
    PermissionsBoundaryAttachmentType, PutRolePermissionsBoundaryRequest, Role, TagRoleRequest,
    UntagRoleRequest, UpdateAssumeRolePolicyRequest, UpdateRoleDescriptionRequest,
    UpdateRoleDescriptionResponse, UpdateRoleRequest, UpdateRoleResponse,
};
use gatehouse_types::{IdKind, Timestamp, new_unique_id};

use crate::authz::{Access, Authorized, parse_policy};
use crate::crypto::random;
use gatehouse_protocol::error::{ApiError, ErrorCode};

use crate::errors::{Result, invalid_input, limit_exceeded, randomness_unavailable};
use crate::iam::attachments::{
    HolderAndPolicy, delete_boundary, put_boundary, resolve_delete_boundary, resolve_put_boundary,
};
use crate::iam::common::creating;
use crate::iam::common::{list_by_path, listing, named};
use crate::iam::inline_policies::url_encode;
use crate::iam::tagging::{ByName, tag_operations};
use crate::iam::users::tags_shape;
use crate::model::entity::entity_fields;
use crate::model::entity::{self, BoundaryHolder, Dependent, Entity, Named, PolicyHolder};
use crate::model::quotas;
use crate::model::records::{
    ATTACHED_POLICIES, INLINE_POLICIES, ROLE_NAMES, ROLE_PROFILES, ROLES, Record, RoleRecord,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// A role's session lasts an hour unless its MaxSessionDuration says otherwise.
pub const DEFAULT_MAX_SESSION_DURATION: i32 = 3600;
/// AWS's default quota on a trust policy, counted without whitespace.
/// Where service-linked roles live; only AWS (here: CreateServiceLinkedRole) puts roles there.
pub const SERVICE_ROLE_PATH: &str = "/aws-service-role/";

impl Entity for RoleRecord {
    const KIND: &'static str = "role";
    const NOUN: &'static str = "Role";
    const TABLE: gatehouse_store::Table = ROLES;
    const NAMES: gatehouse_store::Table = ROLE_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[
        Dependent {
            table: INLINE_POLICIES,
            what: "delete policies",
        },
        Dependent {
            table: ATTACHED_POLICIES,
            what: "detach all policies",
        },
        Dependent {
            table: ROLE_PROFILES,
            what: "remove roles from instance profile",
        },
    ];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerRole", 50);
    const ACCOUNT_QUOTA: Option<&'static str> = Some(crate::model::quotas::ROLES_PER_ACCOUNT);
    const TAG_ACTION: &'static str = "iam:TagRole";

    entity_fields!();
}

impl PolicyHolder for RoleRecord {
    const INLINE_QUOTA: usize = 10_240;
    const MANAGED_QUOTA: (&'static str, usize) = ("PoliciesPerRole", 10);
    const ADJUSTABLE_MANAGED_QUOTA: Option<&'static str> =
        Some(crate::model::quotas::MANAGED_POLICIES_PER_ROLE);
    fn policies_rev_mut(&mut self) -> &mut u64 {
        &mut self.policies_rev
    }
    fn attached(&self) -> &[String] {
        &self.attached_policies
    }
    fn attached_mut(&mut self) -> &mut Vec<String> {
        &mut self.attached_policies
    }
    fn check_modifiable(&self) -> Result<()> {
        if self.path.starts_with(SERVICE_ROLE_PATH) {
            return Err(ApiError::new(
                ErrorCode::UnmodifiableEntity,
                format!(
                    "Cannot perform the operation on the protected role '{}' - this role is only \
                     modifiable by AWS",
                    self.name
                ),
            )
            .into());
        }
        Ok(())
    }
}

impl BoundaryHolder for RoleRecord {
    fn boundary_slot(&mut self) -> &mut Option<String> {
        &mut self.permissions_boundary
    }
}

/// AWS's shape of a role. ListRoles leaves out tags and the boundary; every answer carries
/// the trust policy, URL-encoded.
pub(crate) fn role_shape(r: &RoleRecord, detail: bool) -> Role {
    Role {
        path: r.path.clone(),
        role_name: r.name.clone(),
        role_id: r.id.clone(),
        arn: r.arn(),
        create_date: Timestamp::from_unix_millis(r.create_date),
        assume_role_policy_document: Some(url_encode(&r.assume_role_policy)),
        description: r.description.clone(),
        max_session_duration: Some(r.max_session_duration),
        permissions_boundary: detail
            .then(|| {
                r.permissions_boundary
                    .as_ref()
                    .map(|arn| AttachedPermissionsBoundary {
                        permissions_boundary_type: Some(
                            PermissionsBoundaryAttachmentType::PermissionsBoundaryPolicy,
                        ),
                        permissions_boundary_arn: Some(arn.clone()),
                    })
            })
            .flatten(),
        tags: (detail && !r.tags.is_empty()).then(|| tags_shape(&r.tags)),
        role_last_used: detail.then(Default::default),
    }
}

/// A trust policy as IAM accepts it.
/// A trust policy as IAM accepts it, within the account's `RoleTrustPolicyLength`.
fn checked_trust_policy(call: &mut Call<'_>, document: &str) -> Result<()> {
    parse_policy(document, PolicyKind::Trust)?;
    let limit = quotas::of_account(call.t, call.account(), quotas::ROLE_TRUST_POLICY_LENGTH)?;
    if policy_size(document) > limit as usize {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for ACLSizePerRole: {limit}"
        )));
    }
    Ok(())
}

operation!(CreateRole, Iam, writes, CreateRoleRequest => CreateRoleResponse);
impl Handler for CreateRole {
    type Target = Vec<(String, String)>;

    fn resolve(call: &mut Call<'_>, input: &CreateRoleRequest) -> Result<(Self::Target, Access)> {
        let path = input.path.as_deref().unwrap_or("/");
        let (tags, mut access) = creating::<RoleRecord>(
            call,
            path,
            &input.role_name,
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
        input: &CreateRoleRequest,
    ) -> Result<CreateRoleResponse> {
        if input
            .path
            .as_deref()
            .is_some_and(|p| p.starts_with(SERVICE_ROLE_PATH))
        {
            return Err(invalid_input(format!(
                "The path prefix {SERVICE_ROLE_PATH} is reserved for service-linked roles; \
                 create them with CreateServiceLinkedRole."
            )));
        }
        checked_trust_policy(call, &input.assume_role_policy_document)?;
        let boundary = match &input.permissions_boundary {
            Some(arn) => Some(
                crate::iam::policies::policy_by_arn(call.t, call.account(), arn)?
                    .ok_or_else(|| crate::iam::policies::not_attachable(arn))?,
            ),
            None => None,
        };
        let mut record = RoleRecord {
            v: RoleRecord::VERSION,
            account: call.account().to_string(),
            name: input.role_name.clone(),
            id: new_unique_id(IdKind::Role, &random().map_err(randomness_unavailable)?),
            path: input.path.clone().unwrap_or_else(|| "/".to_string()),
            create_date: call.cx.now.unix_millis,
            assume_role_policy: input.assume_role_policy_document.clone(),
            description: input.description.clone(),
            max_session_duration: input
                .max_session_duration
                .unwrap_or(DEFAULT_MAX_SESSION_DURATION),
            permissions_boundary: None,
            tags,
            policies_rev: 0,
            attached_policies: Vec::new(),
        };
        entity::create(call.t, &record)?;
        if boundary.is_some() {
            crate::iam::attachments::set_boundary(call.t, &mut record, boundary)?;
        }
        Ok(CreateRoleResponse {
            role: Role {
                role_last_used: None,
                ..role_shape(&record, true)
            },
        })
    }
}

operation!(GetRole, Iam, reads, GetRoleRequest => GetRoleResponse);
impl Handler for GetRole {
    type Target = Named<RoleRecord>;
    fn resolve(call: &mut Call<'_>, input: &GetRoleRequest) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        _: &GetRoleRequest,
    ) -> Result<GetRoleResponse> {
        let _ = call;
        Ok(GetRoleResponse {
            role: role_shape(&role.existing()?, true),
        })
    }
}

operation!(ListRoles, Iam, reads, ListRolesRequest => ListRolesResponse);
impl Handler for ListRoles {
    type Target = ();
    fn resolve(call: &mut Call<'_>, input: &ListRolesRequest) -> Result<((), Access)> {
        Ok((
            (),
            listing::<RoleRecord>(call, input.path_prefix.as_deref(), Self::ACTION),
        ))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListRolesRequest,
    ) -> Result<ListRolesResponse> {
        let page = list_by_path::<RoleRecord>(
            call,
            input.path_prefix.as_deref(),
            input.marker.as_deref(),
            input.max_items,
        )?;
        Ok(ListRolesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker.clone(),
            roles: page.items.iter().map(|r| role_shape(r, false)).collect(),
        })
    }
}

operation!(UpdateRole, Iam, writes, UpdateRoleRequest => UpdateRoleResponse);
impl Handler for UpdateRole {
    type Target = Named<RoleRecord>;
    fn resolve(call: &mut Call<'_>, input: &UpdateRoleRequest) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &UpdateRoleRequest,
    ) -> Result<UpdateRoleResponse> {
        let mut role = role.existing()?;
        if let Some(description) = &input.description {
            role.description = Some(description.clone());
        }
        if let Some(duration) = input.max_session_duration {
            role.max_session_duration = duration;
        }
        entity::save(call.t, &role)?;
        Ok(UpdateRoleResponse {})
    }
}

operation!(UpdateRoleDescription, Iam, writes, UpdateRoleDescriptionRequest => UpdateRoleDescriptionResponse);
impl Handler for UpdateRoleDescription {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateRoleDescriptionRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &UpdateRoleDescriptionRequest,
    ) -> Result<UpdateRoleDescriptionResponse> {
        let mut role = role.existing()?;
        role.description = Some(input.description.clone());
        entity::save(call.t, &role)?;
        Ok(UpdateRoleDescriptionResponse {
            role: Some(role_shape(&role, true)),
        })
    }
}

operation!(UpdateAssumeRolePolicy, Iam, writes, UpdateAssumeRolePolicyRequest => ());
impl Handler for UpdateAssumeRolePolicy {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateAssumeRolePolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        input: &UpdateAssumeRolePolicyRequest,
    ) -> Result<()> {
        let mut role = role.existing()?;
        role.check_modifiable()?;
        checked_trust_policy(call, &input.policy_document)?;
        role.assume_role_policy = input.policy_document.clone();
        role.policies_rev += 1;
        entity::save(call.t, &role)
    }
}

operation!(DeleteRole, Iam, writes, DeleteRoleRequest => ());
impl Handler for DeleteRole {
    type Target = Named<RoleRecord>;
    fn resolve(call: &mut Call<'_>, input: &DeleteRoleRequest) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        _: &DeleteRoleRequest,
    ) -> Result<()> {
        let role = role.existing()?;
        role.check_modifiable()?;
        entity::delete(call.t, &role)?;
        if let Some(boundary) = &role.permissions_boundary {
            crate::iam::attachments::release_boundary(call.t, &role.account, boundary)?;
        }
        Ok(())
    }
}

tag_operations!(
    ByName<RoleRecord>, role_name,
    TagRole(TagRoleRequest),
    UntagRole(UntagRoleRequest),
    ListRoleTags(ListRoleTagsRequest => ListRoleTagsResponse)
);

operation!(PutRolePermissionsBoundary, Iam, writes, PutRolePermissionsBoundaryRequest => ());
impl Handler for PutRolePermissionsBoundary {
    type Target = HolderAndPolicy<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &PutRolePermissionsBoundaryRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve_put_boundary(
            call,
            &input.role_name,
            &input.permissions_boundary,
            Self::ACTION,
        )
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: Self::Target,
        input: &PutRolePermissionsBoundaryRequest,
    ) -> Result<()> {
        put_boundary(call, target, &input.permissions_boundary)
    }
}

operation!(DeleteRolePermissionsBoundary, Iam, writes, DeleteRolePermissionsBoundaryRequest => ());
impl Handler for DeleteRolePermissionsBoundary {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteRolePermissionsBoundaryRequest,
    ) -> Result<(Self::Target, Access)> {
        resolve_delete_boundary(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        _: &DeleteRolePermissionsBoundaryRequest,
    ) -> Result<()> {
        delete_boundary(call, role)
    }
}
