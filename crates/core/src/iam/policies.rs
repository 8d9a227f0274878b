//! Managed policies and their versions: CreatePolicy, GetPolicy, DeletePolicy, ListPolicies,
//! the five version calls, and their tags. Customer managed policies live in their account;
//! AWS managed ones come from the catalogue (`model::aws_policies`), can be read and attached
//! like any other, and cannot be changed.

use gatehouse_policy::{PolicyKind, policy_size};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    CreatePolicyRequest, CreatePolicyResponse, CreatePolicyVersionRequest,
    CreatePolicyVersionResponse, DeletePolicyRequest, DeletePolicyVersionRequest, GetPolicyRequest,
    GetPolicyResponse, GetPolicyVersionRequest, GetPolicyVersionResponse, ListPoliciesRequest,
    ListPoliciesResponse, ListPolicyTagsRequest, ListPolicyTagsResponse, ListPolicyVersionsRequest,
    ListPolicyVersionsResponse, Policy, PolicyScopeType, PolicyUsageType, PolicyVersion,
    SetDefaultPolicyVersionRequest, TagPolicyRequest, UntagPolicyRequest,
};
use gatehouse_store::Txn;
use gatehouse_types::{IdKind, Timestamp, new_unique_id};

use crate::authz::{Access, Authorized, parse_policy};
use crate::crypto::random;
use crate::errors::{Failure, Result, invalid_input, limit_exceeded, randomness_unavailable};
use crate::iam::common::creating;
use crate::iam::inline_policies::url_encode;
use crate::iam::tagging::{TagTarget, tag_operations};
use crate::iam::users::tags_shape;
use crate::model::aws_policies::{self, AWS_ACCOUNT, is_aws_policy_arn};
use crate::model::entity::entity_fields;
use crate::model::entity::{self, Dependent, Entity};
use crate::model::pagination::PageRequest;
use crate::model::records::{
    AWS_POLICY_USAGE, AwsPolicyUsage, ManagedPolicyRecord, POLICIES, POLICY_NAMES, POLICY_VERSIONS,
    PolicyVersionRecord, Record, Records, key, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quota on a managed policy document, counted without whitespace.
pub const MAX_MANAGED_POLICY_SIZE: usize = 6144;
/// AWS keeps at most five versions of a managed policy.
pub const MAX_POLICY_VERSIONS: u64 = 5;
/// AWS's quota of customer managed policies in an account.
pub const MAX_POLICIES_PER_ACCOUNT: u64 = 1500;

impl Entity for ManagedPolicyRecord {
    const KIND: &'static str = "policy";
    const NOUN: &'static str = "Policy";
    const TABLE: gatehouse_store::Table = POLICIES;
    const NAMES: gatehouse_store::Table = POLICY_NAMES;
    /// DeletePolicy checks attachments and versions itself, with AWS's own messages.
    const DEPENDENTS: &'static [Dependent] = &[];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerPolicy", 50);
    const TAG_ACTION: &'static str = "iam:TagPolicy";

    entity_fields!();

    fn already_exists(name: &str) -> Failure {
        ApiError::new(
            ErrorCode::EntityAlreadyExists,
            format!("A policy called {name} already exists. Duplicate names are not allowed."),
        )
        .into()
    }
}

/// A policy a call names by ARN, as found (or not) in the caller's account.
pub(crate) struct NamedPolicy {
    pub arn: String,
    pub record: Option<ManagedPolicyRecord>,
}

impl NamedPolicy {
    pub(crate) fn find(call: &mut Call<'_>, arn: &str) -> Result<NamedPolicy> {
        let record = policy_by_arn(call.t, call.account(), arn)?;
        Ok(NamedPolicy {
            arn: arn.to_string(),
            record,
        })
    }

    pub(crate) fn existing(self) -> Result<ManagedPolicyRecord> {
        let arn = self.arn;
        self.record.ok_or_else(|| no_such_policy(&arn))
    }

    /// The policy, which the call is about to change: never an AWS managed one.
    fn modifiable(self) -> Result<ManagedPolicyRecord> {
        let policy = self.existing()?;
        if policy.account == AWS_ACCOUNT {
            return Err(ApiError::new(
                ErrorCode::UnmodifiableEntity,
                format!(
                    "Cannot perform the operation on the AWS managed policy {}.",
                    policy.arn()
                ),
            )
            .into());
        }
        Ok(policy)
    }

    /// `Access` for `action` on this policy, with its tags as `aws:ResourceTag/*`.
    fn access(&self, action: &'static str) -> Access {
        let tags = self.record.as_ref().map_or(&[][..], |p| p.tags.as_slice());
        Access::to(action, self.arn.clone()).with_resource_tags(tags)
    }
}

/// A managed policy is found by its ARN, for tagging and for every other call on it.
impl TagTarget for NamedPolicy {
    type Entity = ManagedPolicyRecord;
    fn find(call: &mut Call<'_>, arn: &str, action: &'static str) -> Result<(Self, Access)> {
        let policy = NamedPolicy::find(call, arn)?;
        let access = policy.access(action);
        Ok((policy, access))
    }
    fn existing(self, _arn: &str) -> Result<ManagedPolicyRecord> {
        NamedPolicy::existing(self)
    }
    fn changing(self, _arn: &str) -> Result<ManagedPolicyRecord> {
        self.modifiable()
    }
}

/// The managed policy an ARN names, as `account` sees it: one of the account's own, or an
/// AWS managed policy with the account's usage counts.
pub(crate) fn policy_by_arn(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    arn: &str,
) -> Result<Option<ManagedPolicyRecord>> {
    if is_aws_policy_arn(arn) {
        return with_usage(t, account, aws_policies::by_arn(arn));
    }
    let prefix = format!("arn:aws:iam::{account}:policy/");
    let Some(path_and_name) = arn.strip_prefix(&prefix) else {
        return Ok(None);
    };
    let name = path_and_name.rsplit('/').next().unwrap_or(path_and_name);
    Ok(entity::by_name::<ManagedPolicyRecord>(t, account, name)?.filter(|p| p.arn() == arn))
}

/// The managed policy with `id` (from an attachment), as `account` sees it.
pub(crate) fn policy_by_id(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    id: &str,
) -> Result<Option<ManagedPolicyRecord>> {
    match aws_policies::by_id(id) {
        Some(aws) => with_usage(t, account, Some(aws)),
        None => entity::by_id(t, account, id),
    }
}

fn with_usage(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    aws: Option<&aws_policies::AwsPolicy>,
) -> Result<Option<ManagedPolicyRecord>> {
    let Some(aws) = aws else { return Ok(None) };
    let mut record = aws.record.clone();
    if let Some(usage) =
        t.get_record::<AwsPolicyUsage>(AWS_POLICY_USAGE, &key(account, &[&record.id]))?
    {
        record.attachment_count = usage.attachment_count;
        record.boundary_count = usage.boundary_count;
    }
    Ok(Some(record))
}

/// Stores a policy's changed usage counts: on its record, or for an AWS managed policy in
/// `account`'s usage row.
pub(crate) fn save_usage(
    t: &mut (impl Txn + ?Sized),
    account: &str,
    policy: &ManagedPolicyRecord,
) -> Result<()> {
    if policy.account != AWS_ACCOUNT {
        return entity::save(t, policy);
    }
    let row = key(account, &[&policy.id]);
    if policy.attachment_count == 0 && policy.boundary_count == 0 {
        t.delete(AWS_POLICY_USAGE, &row)?;
    } else {
        t.put_record(
            AWS_POLICY_USAGE,
            &row,
            &AwsPolicyUsage {
                v: AwsPolicyUsage::VERSION,
                attachment_count: policy.attachment_count,
                boundary_count: policy.boundary_count,
            },
        )?;
    }
    Ok(())
}

/// A malformed ARN is InvalidInput, as AWS answers (after authorization, like a missing
/// policy, so that the caller learns nothing it may not ask).
fn malformed(arn: &str) -> Option<Failure> {
    (!arn.starts_with("arn:") || arn.split(':').count() < 6)
        .then(|| invalid_input(format!("ARN {arn} is not valid.")))
}

pub(crate) fn no_such_policy(arn: &str) -> Failure {
    if let Some(e) = malformed(arn) {
        return e;
    }
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} was not found."),
    )
    .into()
}

/// AWS's answer when a policy to attach or to use as a boundary does not exist.
pub(crate) fn not_attachable(arn: &str) -> Failure {
    if let Some(e) = malformed(arn) {
        return e;
    }
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} does not exist or is not attachable."),
    )
    .into()
}

fn no_such_version(arn: &str, version: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Policy {arn} version {version} does not exist or is not attachable."),
    )
    .into()
}

/// The default version's document of a policy.
pub(crate) fn default_document(
    t: &mut (impl Txn + ?Sized),
    policy: &ManagedPolicyRecord,
) -> Result<String> {
    if policy.account == AWS_ACCOUNT {
        return aws_policies::by_id(&policy.id)
            .map(|aws| aws.document.clone())
            .ok_or_else(|| crate::errors::internal("an AWS managed policy left the catalogue"));
    }
    let version: PolicyVersionRecord = t
        .get_record(
            POLICY_VERSIONS,
            &key(&policy.account, &[&policy.id, &policy.default_version]),
        )?
        .ok_or_else(|| crate::errors::internal("a managed policy lacks its default version"))?;
    Ok(version.document)
}

/// A document as IAM accepts it for a managed policy.
fn checked_document(document: &str) -> Result<()> {
    parse_policy(document, PolicyKind::Identity)?;
    if policy_size(document) > MAX_MANAGED_POLICY_SIZE {
        return Err(limit_exceeded(format!(
            "Cannot exceed quota for PolicySize: {MAX_MANAGED_POLICY_SIZE}"
        )));
    }
    Ok(())
}

fn policy_shape(p: &ManagedPolicyRecord, detail: bool) -> Policy {
    Policy {
        policy_name: Some(p.name.clone()),
        policy_id: Some(p.id.clone()),
        arn: Some(p.arn()),
        path: Some(p.path.clone()),
        default_version_id: Some(p.default_version.clone()),
        attachment_count: Some(i32::try_from(p.attachment_count).unwrap_or(i32::MAX)),
        permissions_boundary_usage_count: Some(i32::try_from(p.boundary_count).unwrap_or(i32::MAX)),
        is_attachable: Some(true),
        description: if detail { p.description.clone() } else { None },
        create_date: Some(Timestamp::from_unix_millis(p.create_date)),
        update_date: Some(Timestamp::from_unix_millis(p.update_date)),
        tags: (detail && !p.tags.is_empty()).then(|| tags_shape(&p.tags)),
    }
}

fn version_shape(v: &PolicyVersionRecord, default: &str, with_document: bool) -> PolicyVersion {
    PolicyVersion {
        document: with_document.then(|| url_encode(&v.document)),
        version_id: Some(v.id.clone()),
        is_default_version: Some(v.id == default),
        create_date: Some(Timestamp::from_unix_millis(v.create_date)),
    }
}

fn version_key(p: &ManagedPolicyRecord, version: &str) -> String {
    key(&p.account, &[&p.id, version])
}

operation!(CreatePolicy, Iam, writes, CreatePolicyRequest => CreatePolicyResponse);
impl Handler for CreatePolicy {
    type Target = Vec<(String, String)>;

    fn resolve(call: &mut Call<'_>, input: &CreatePolicyRequest) -> Result<(Self::Target, Access)> {
        let path = input.path.as_deref().unwrap_or("/");
        creating::<ManagedPolicyRecord>(
            call,
            path,
            &input.policy_name,
            input.tags.as_deref(),
            Self::ACTION,
        )
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        tags: Self::Target,
        input: &CreatePolicyRequest,
    ) -> Result<CreatePolicyResponse> {
        checked_document(&input.policy_document)?;
        if call.t.count(POLICIES, &prefix(call.account(), &[]))? >= MAX_POLICIES_PER_ACCOUNT {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for PoliciesPerAccount: {MAX_POLICIES_PER_ACCOUNT}"
            )));
        }
        let now = call.cx.now.unix_millis;
        let record = ManagedPolicyRecord {
            v: ManagedPolicyRecord::VERSION,
            account: call.account().to_string(),
            name: input.policy_name.clone(),
            id: new_unique_id(
                IdKind::ManagedPolicy,
                &random().map_err(randomness_unavailable)?,
            ),
            path: input.path.clone().unwrap_or_else(|| "/".to_string()),
            description: input.description.clone(),
            create_date: now,
            update_date: now,
            default_version: "v1".to_string(),
            next_version: 2,
            tags,
            attachment_count: 0,
            boundary_count: 0,
        };
        entity::create(call.t, &record)?;
        let version = PolicyVersionRecord {
            v: PolicyVersionRecord::VERSION,
            id: "v1".to_string(),
            document: input.policy_document.clone(),
            create_date: now,
        };
        call.t
            .put_record(POLICY_VERSIONS, &version_key(&record, "v1"), &version)?;
        Ok(CreatePolicyResponse {
            policy: Some(Policy {
                description: None,
                ..policy_shape(&record, true)
            }),
        })
    }
}

operation!(GetPolicy, Iam, reads, GetPolicyRequest => GetPolicyResponse);
impl Handler for GetPolicy {
    type Target = NamedPolicy;

    fn resolve(call: &mut Call<'_>, input: &GetPolicyRequest) -> Result<(NamedPolicy, Access)> {
        <NamedPolicy as TagTarget>::find(call, &input.policy_arn, Self::ACTION)
    }

    fn run(
        _: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        _: &GetPolicyRequest,
    ) -> Result<GetPolicyResponse> {
        Ok(GetPolicyResponse {
            policy: Some(policy_shape(&policy.existing()?, true)),
        })
    }
}

operation!(DeletePolicy, Iam, writes, DeletePolicyRequest => ());
impl Handler for DeletePolicy {
    type Target = NamedPolicy;

    fn resolve(call: &mut Call<'_>, input: &DeletePolicyRequest) -> Result<(NamedPolicy, Access)> {
        <NamedPolicy as TagTarget>::find(call, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        _: &DeletePolicyRequest,
    ) -> Result<()> {
        let policy = policy.modifiable()?;
        if policy.attachment_count > 0 || policy.boundary_count > 0 {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "Cannot delete a policy attached to entities.",
            )
            .into());
        }
        let versions = call
            .t
            .child_ids(POLICY_VERSIONS, &prefix(&policy.account, &[&policy.id]))?;
        if versions.len() > 1 {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "This policy has more than one version. Before you delete a policy, you must delete \
                 the policy's versions. The default version is deleted with the policy.",
            )
            .into());
        }
        for version in versions {
            call.t
                .delete(POLICY_VERSIONS, &version_key(&policy, &version))?;
        }
        entity::delete(call.t, &policy)
    }
}

operation!(ListPolicies, Iam, reads, ListPoliciesRequest => ListPoliciesResponse);
impl Handler for ListPolicies {
    type Target = ();

    fn resolve(_: &mut Call<'_>, _: &ListPoliciesRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListPoliciesRequest,
    ) -> Result<ListPoliciesResponse> {
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?;
        let scope = input.scope.unwrap_or(PolicyScopeType::All);
        let path_prefix = input.path_prefix.as_deref().unwrap_or("/");
        let account = call.account().to_string();
        let only_attached = input.only_attached.unwrap_or(false);
        let keep = |p: &ManagedPolicyRecord| {
            p.path.starts_with(path_prefix)
                && (!only_attached || p.attachment_count > 0)
                && match input.policy_usage_filter {
                    Some(PolicyUsageType::PermissionsPolicy) => p.attachment_count > 0,
                    Some(PolicyUsageType::PermissionsBoundary) => p.boundary_count > 0,
                    None => true,
                }
        };
        // AWS managed policies first (by name), then the account's own (by name).
        let mut matching: Vec<ManagedPolicyRecord> = Vec::new();
        if scope != PolicyScopeType::Local {
            let usage: std::collections::HashMap<String, AwsPolicyUsage> = call
                .t
                .scan_records(AWS_POLICY_USAGE, &prefix(&account, &[]), None, usize::MAX)?
                .into_iter()
                .filter_map(|(row, used)| Some((row.rsplit('/').next()?.to_string(), used)))
                .collect();
            for aws in aws_policies::all() {
                if !aws.record.path.starts_with(path_prefix) {
                    continue;
                }
                let mut record = aws.record.clone();
                if let Some(used) = usage.get(&record.id) {
                    record.attachment_count = used.attachment_count;
                    record.boundary_count = used.boundary_count;
                }
                if keep(&record) {
                    matching.push(record);
                }
            }
        }
        if scope != PolicyScopeType::Aws {
            let mut own: Vec<ManagedPolicyRecord> = call
                .t
                .scan_records(POLICIES, &prefix(&account, &[]), None, usize::MAX)?
                .into_iter()
                .map(|(_, p)| p)
                .filter(|p| keep(p))
                .collect();
            own.sort_by_cached_key(|p| p.name.to_lowercase());
            matching.extend(own);
        }
        let page = page.of_list(matching, |p| p.id.clone())?;
        Ok(ListPoliciesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker.clone(),
            policies: Some(page.items.iter().map(|p| policy_shape(p, false)).collect()),
        })
    }
}

operation!(CreatePolicyVersion, Iam, writes, CreatePolicyVersionRequest => CreatePolicyVersionResponse);
impl Handler for CreatePolicyVersion {
    type Target = NamedPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &CreatePolicyVersionRequest,
    ) -> Result<(NamedPolicy, Access)> {
        <NamedPolicy as TagTarget>::find(call, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        input: &CreatePolicyVersionRequest,
    ) -> Result<CreatePolicyVersionResponse> {
        let mut policy = policy.modifiable()?;
        checked_document(&input.policy_document)?;
        let versions = call
            .t
            .count(POLICY_VERSIONS, &prefix(&policy.account, &[&policy.id]))?;
        if versions >= MAX_POLICY_VERSIONS {
            return Err(limit_exceeded(
                "A managed policy can have up to 5 versions. Before you create a new version, you \
                 must delete an existing version.",
            ));
        }
        let now = call.cx.now.unix_millis;
        let version = PolicyVersionRecord {
            v: PolicyVersionRecord::VERSION,
            id: format!("v{}", policy.next_version),
            document: input.policy_document.clone(),
            create_date: now,
        };
        policy.next_version += 1;
        if input.set_as_default.unwrap_or(false) {
            policy.default_version = version.id.clone();
            policy.update_date = now;
        }
        call.t.put_record(
            POLICY_VERSIONS,
            &version_key(&policy, &version.id),
            &version,
        )?;
        entity::save(call.t, &policy)?;
        if input.set_as_default.unwrap_or(false) {
            crate::iam::revisions::managed_policy_changed(call.t, &policy)?;
        }
        Ok(CreatePolicyVersionResponse {
            policy_version: Some(version_shape(&version, &policy.default_version, false)),
        })
    }
}

/// The version a call names, read once authorized.
fn named_version(
    call: &mut Call<'_>,
    policy: &ManagedPolicyRecord,
    arn: &str,
    version: &str,
) -> Result<PolicyVersionRecord> {
    if policy.account == AWS_ACCOUNT {
        return aws_version(policy)
            .filter(|v| v.id == version)
            .ok_or_else(|| no_such_version(arn, version));
    }
    call.t
        .get_record(POLICY_VERSIONS, &version_key(policy, version))?
        .ok_or_else(|| no_such_version(arn, version))
}

/// A policy's versions, newest first (v10 before v9, as AWS lists them).
pub(crate) fn versions_of(
    t: &mut (impl Txn + ?Sized),
    policy: &ManagedPolicyRecord,
) -> Result<Vec<PolicyVersionRecord>> {
    if policy.account == AWS_ACCOUNT {
        return Ok(aws_version(policy).into_iter().collect());
    }
    let mut versions: Vec<PolicyVersionRecord> = t
        .scan_records(
            POLICY_VERSIONS,
            &prefix(&policy.account, &[&policy.id]),
            None,
            usize::MAX,
        )?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    versions.sort_by_key(|v| {
        std::cmp::Reverse(v.id.trim_start_matches('v').parse::<u32>().unwrap_or(0))
    });
    Ok(versions)
}

/// The one version Gatehouse holds of an AWS managed policy: its default (README, "differs
/// from AWS").
fn aws_version(policy: &ManagedPolicyRecord) -> Option<PolicyVersionRecord> {
    aws_policies::by_id(&policy.id).map(|aws| PolicyVersionRecord {
        v: PolicyVersionRecord::VERSION,
        id: aws.record.default_version.clone(),
        document: aws.document.clone(),
        create_date: aws.record.update_date,
    })
}

operation!(GetPolicyVersion, Iam, reads, GetPolicyVersionRequest => GetPolicyVersionResponse);
impl Handler for GetPolicyVersion {
    type Target = NamedPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &GetPolicyVersionRequest,
    ) -> Result<(NamedPolicy, Access)> {
        <NamedPolicy as TagTarget>::find(call, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        input: &GetPolicyVersionRequest,
    ) -> Result<GetPolicyVersionResponse> {
        let policy = policy.existing()?;
        let version = named_version(call, &policy, &input.policy_arn, &input.version_id)?;
        Ok(GetPolicyVersionResponse {
            policy_version: Some(version_shape(&version, &policy.default_version, true)),
        })
    }
}

operation!(DeletePolicyVersion, Iam, writes, DeletePolicyVersionRequest => ());
impl Handler for DeletePolicyVersion {
    type Target = NamedPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &DeletePolicyVersionRequest,
    ) -> Result<(NamedPolicy, Access)> {
        <NamedPolicy as TagTarget>::find(call, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        input: &DeletePolicyVersionRequest,
    ) -> Result<()> {
        let policy = policy.modifiable()?;
        named_version(call, &policy, &input.policy_arn, &input.version_id)?;
        if policy.default_version == input.version_id {
            return Err(ApiError::new(
                ErrorCode::DeleteConflict,
                "Cannot delete the default version of a policy.",
            )
            .into());
        }
        call.t
            .delete(POLICY_VERSIONS, &version_key(&policy, &input.version_id))?;
        Ok(())
    }
}

operation!(ListPolicyVersions, Iam, reads, ListPolicyVersionsRequest => ListPolicyVersionsResponse);
impl Handler for ListPolicyVersions {
    type Target = NamedPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &ListPolicyVersionsRequest,
    ) -> Result<(NamedPolicy, Access)> {
        <NamedPolicy as TagTarget>::find(call, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        input: &ListPolicyVersionsRequest,
    ) -> Result<ListPolicyVersionsResponse> {
        let policy = policy.existing()?;
        let versions = versions_of(call.t, &policy)?;
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(versions, |v| v.id.clone())?;
        Ok(ListPolicyVersionsResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            versions: Some(
                page.items
                    .iter()
                    .map(|v| version_shape(v, &policy.default_version, false))
                    .collect(),
            ),
        })
    }
}

operation!(SetDefaultPolicyVersion, Iam, writes, SetDefaultPolicyVersionRequest => ());
impl Handler for SetDefaultPolicyVersion {
    type Target = NamedPolicy;

    fn resolve(
        call: &mut Call<'_>,
        input: &SetDefaultPolicyVersionRequest,
    ) -> Result<(NamedPolicy, Access)> {
        <NamedPolicy as TagTarget>::find(call, &input.policy_arn, Self::ACTION)
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: NamedPolicy,
        input: &SetDefaultPolicyVersionRequest,
    ) -> Result<()> {
        let mut policy = policy.modifiable()?;
        named_version(call, &policy, &input.policy_arn, &input.version_id)?;
        policy.default_version = input.version_id.clone();
        policy.update_date = call.cx.now.unix_millis;
        entity::save(call.t, &policy)?;
        // Every principal that holds the policy sees the new document on its next request.
        crate::iam::revisions::managed_policy_changed(call.t, &policy)
    }
}

tag_operations!(
    NamedPolicy, policy_arn,
    TagPolicy(TagPolicyRequest),
    UntagPolicy(UntagPolicyRequest),
    ListPolicyTags(ListPolicyTagsRequest => ListPolicyTagsResponse)
);
