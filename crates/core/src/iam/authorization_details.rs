//! GetAccountAuthorizationDetails: every user, group, role and customer managed policy of the
//! account with everything that decides their permissions, in one paged list (users, groups,
//! roles, policies), as the tools that audit IAM read it.

use gatehouse_protocol::iam::{
    AttachedPermissionsBoundary, AttachedPolicy, EntityType, GetAccountAuthorizationDetailsRequest,
    GetAccountAuthorizationDetailsResponse, GroupDetail, ManagedPolicyDetail,
    PermissionsBoundaryAttachmentType, PolicyDetail, RoleDetail, UserDetail,
};
use gatehouse_store::Txn;
use gatehouse_types::Timestamp;

use crate::authz::{Access, Authorized};
use crate::errors::Result;
use crate::iam::inline_policies::url_encode;
use crate::iam::instance_profiles::{PROFILE_ROLE, profile_shape};
use crate::iam::users::tags_shape;
use crate::model::entity::{self, Entity};
use crate::model::pagination::PageRequest;
use crate::model::records::{
    AWS_POLICY_USAGE, GROUPS, GroupRecord, INLINE_POLICIES, InlinePolicyRecord,
    InstanceProfileRecord, ManagedPolicyRecord, POLICIES, ROLES, Records, RoleRecord, USERS,
    UserRecord, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// One entry of the combined list, before its details are read.
enum Entry {
    User(UserRecord),
    Group(GroupRecord),
    Role(RoleRecord),
    Policy(ManagedPolicyRecord),
}

impl Entry {
    fn key(&self) -> String {
        match self {
            Entry::User(u) => format!("1/{}", u.id),
            Entry::Group(g) => format!("2/{}", g.id),
            Entry::Role(r) => format!("3/{}", r.id),
            Entry::Policy(p) => format!("4/{}", p.id),
        }
    }
}

fn all<E: Entity>(
    t: &mut (impl Txn + ?Sized),
    table: gatehouse_store::Table,
    account: &str,
) -> Result<Vec<E>> {
    let mut all: Vec<E> = t
        .scan_records::<E>(table, &prefix(account, &[]), None, usize::MAX)?
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    all.sort_by_key(|e| e.name().to_lowercase());
    Ok(all)
}

fn inline(t: &mut (impl Txn + ?Sized), account: &str, owner: &str) -> Result<Vec<PolicyDetail>> {
    Ok(t.scan_records::<InlinePolicyRecord>(
        INLINE_POLICIES,
        &prefix(account, &[owner]),
        None,
        usize::MAX,
    )?
    .into_iter()
    .map(|(_, p)| PolicyDetail {
        policy_name: Some(p.name),
        policy_document: Some(url_encode(&p.document)),
    })
    .collect())
}

fn attached(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    ids: &[String],
) -> Result<Vec<AttachedPolicy>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(p) = crate::iam::policy_by_id(t, account, id)? {
            out.push(AttachedPolicy {
                policy_name: Some(p.name.clone()),
                policy_arn: Some(p.arn()),
            });
        }
    }
    Ok(out)
}

fn boundary(arn: &Option<String>) -> Option<AttachedPermissionsBoundary> {
    arn.as_ref().map(|arn| AttachedPermissionsBoundary {
        permissions_boundary_type: Some(
            PermissionsBoundaryAttachmentType::PermissionsBoundaryPolicy,
        ),
        permissions_boundary_arn: Some(arn.clone()),
    })
}

fn tags(tags: &[(String, String)]) -> Option<Vec<gatehouse_protocol::iam::Tag>> {
    (!tags.is_empty()).then(|| tags_shape(tags))
}

operation!(GetAccountAuthorizationDetails, Iam, reads, GetAccountAuthorizationDetailsRequest => GetAccountAuthorizationDetailsResponse);
impl Handler for GetAccountAuthorizationDetails {
    type Target = ();

    fn resolve(
        _: &mut Call<'_>,
        _: &GetAccountAuthorizationDetailsRequest,
    ) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &GetAccountAuthorizationDetailsRequest,
    ) -> Result<GetAccountAuthorizationDetailsResponse> {
        let account = call.account().to_string();
        let wants = |kind: EntityType| {
            input
                .filter
                .as_ref()
                .is_none_or(|f| f.is_empty() || f.contains(&kind))
        };
        let mut entries = Vec::new();
        if wants(EntityType::User) {
            entries.extend(
                all::<UserRecord>(call.t, USERS, &account)?
                    .into_iter()
                    .map(Entry::User),
            );
        }
        if wants(EntityType::Group) {
            entries.extend(
                all::<GroupRecord>(call.t, GROUPS, &account)?
                    .into_iter()
                    .map(Entry::Group),
            );
        }
        if wants(EntityType::Role) {
            entries.extend(
                all::<RoleRecord>(call.t, ROLES, &account)?
                    .into_iter()
                    .map(Entry::Role),
            );
        }
        // AWS lists the AWS managed policies the account uses, before its own.
        if wants(EntityType::AWSManagedPolicy) {
            let used: Vec<String> = call.t.child_ids(AWS_POLICY_USAGE, &prefix(&account, &[]))?;
            let mut aws = Vec::with_capacity(used.len());
            for id in used {
                aws.extend(crate::iam::policy_by_id(call.t, &account, &id)?);
            }
            aws.sort_by(|a, b| a.name.cmp(&b.name));
            entries.extend(aws.into_iter().map(Entry::Policy));
        }
        if wants(EntityType::LocalManagedPolicy) {
            entries.extend(
                all::<ManagedPolicyRecord>(call.t, POLICIES, &account)?
                    .into_iter()
                    .map(Entry::Policy),
            );
        }
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(entries, Entry::key)?;

        let (mut users, mut groups, mut roles, mut policies) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for entry in &page.items {
            match entry {
                Entry::User(u) => {
                    let mut group_names = Vec::with_capacity(u.groups.len());
                    for id in &u.groups {
                        group_names.extend(
                            entity::by_id::<GroupRecord>(call.t, &account, id)?.map(|g| g.name),
                        );
                    }
                    users.push(UserDetail {
                        path: Some(u.path.clone()),
                        user_name: Some(u.name.clone()),
                        user_id: Some(u.id.clone()),
                        arn: Some(u.arn()),
                        create_date: Some(Timestamp::from_unix_millis(u.create_date)),
                        user_policy_list: Some(inline(call.t, &account, &u.id)?),
                        group_list: Some(group_names),
                        attached_managed_policies: Some(attached(
                            call.t,
                            &account,
                            &u.attached_policies,
                        )?),
                        permissions_boundary: boundary(&u.permissions_boundary),
                        tags: tags(&u.tags),
                    });
                }
                Entry::Group(g) => {
                    groups.push(GroupDetail {
                        path: Some(g.path.clone()),
                        group_name: Some(g.name.clone()),
                        group_id: Some(g.id.clone()),
                        arn: Some(g.arn()),
                        create_date: Some(Timestamp::from_unix_millis(g.create_date)),
                        group_policy_list: Some(inline(call.t, &account, &g.id)?),
                        attached_managed_policies: Some(attached(
                            call.t,
                            &account,
                            &g.attached_policies,
                        )?),
                    });
                }
                Entry::Role(r) => {
                    let mut profiles = Vec::new();
                    for id in PROFILE_ROLE.sources(call.t, &account, &r.id)? {
                        if let Some(p) =
                            entity::by_id::<InstanceProfileRecord>(call.t, &account, &id)?
                        {
                            profiles.push(profile_shape(call.t, &p, false)?);
                        }
                    }
                    roles.push(RoleDetail {
                        path: Some(r.path.clone()),
                        role_name: Some(r.name.clone()),
                        role_id: Some(r.id.clone()),
                        arn: Some(r.arn()),
                        create_date: Some(Timestamp::from_unix_millis(r.create_date)),
                        assume_role_policy_document: Some(url_encode(&r.assume_role_policy)),
                        instance_profile_list: Some(profiles),
                        role_policy_list: Some(inline(call.t, &account, &r.id)?),
                        attached_managed_policies: Some(attached(
                            call.t,
                            &account,
                            &r.attached_policies,
                        )?),
                        permissions_boundary: boundary(&r.permissions_boundary),
                        tags: tags(&r.tags),
                        role_last_used: Some(Default::default()),
                    });
                }
                Entry::Policy(p) => {
                    let versions = crate::iam::versions_of(call.t, p)?;
                    policies.push(ManagedPolicyDetail {
                        policy_name: Some(p.name.clone()),
                        policy_id: Some(p.id.clone()),
                        arn: Some(p.arn()),
                        path: Some(p.path.clone()),
                        default_version_id: Some(p.default_version.clone()),
                        attachment_count: Some(
                            i32::try_from(p.attachment_count).unwrap_or(i32::MAX),
                        ),
                        permissions_boundary_usage_count: Some(
                            i32::try_from(p.boundary_count).unwrap_or(i32::MAX),
                        ),
                        is_attachable: Some(true),
                        description: p.description.clone(),
                        create_date: Some(Timestamp::from_unix_millis(p.create_date)),
                        update_date: Some(Timestamp::from_unix_millis(p.update_date)),
                        policy_version_list: Some(
                            versions
                                .iter()
                                .map(|v| gatehouse_protocol::iam::PolicyVersion {
                                    document: Some(url_encode(&v.document)),
                                    version_id: Some(v.id.clone()),
                                    is_default_version: Some(v.id == p.default_version),
                                    create_date: Some(Timestamp::from_unix_millis(v.create_date)),
                                })
                                .collect(),
                        ),
                    });
                }
            }
        }
        Ok(GetAccountAuthorizationDetailsResponse {
            user_detail_list: Some(users),
            group_detail_list: Some(groups),
            role_detail_list: Some(roles),
            policies: Some(policies),
            is_truncated: Some(page.next_marker.is_some()),
            marker: page.next_marker,
        })
    }
}
