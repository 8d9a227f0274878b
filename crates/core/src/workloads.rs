//! Credentials for workloads: a workload bound to an instance profile fetches its role's
//! temporary credentials from Gatehouse over the container credentials protocol that AWS SDKs
//! read by themselves (`AWS_CONTAINER_CREDENTIALS_FULL_URI` with
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN`), so no key is ever on the workload's disk.
//!
//! An operator binds a workload (`gatehouse workload bind --instance-profile NAME`), which
//! prints its authorization token once; the token is stored only as a digest, and revoking the
//! binding (`gatehouse workload revoke ID`) stops it at once. Each fetch is an assumption of the
//! profile's role by EC2, as on AWS: the role's trust policy must allow `ec2.amazonaws.com`.

use gatehouse_policy::{PolicyKind, PolicySet, Principal, Request};
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_store::{read, write};
use gatehouse_types::{SecretKey, Timestamp, format_iso8601};

use crate::Gatehouse;
use crate::crypto::random;
use crate::errors::{Failure, internal, randomness_unavailable};
use crate::model::entity::{self, Entity};
use crate::model::records::{
    InstanceProfileRecord, Record, Records, RoleRecord, RoleSessionRecord, WORKLOADS,
    WorkloadRecord,
};
use crate::sessions::{SessionKind, token_digest};

/// A new binding and its token (shown this once).
#[derive(Debug)]
pub struct NewWorkload {
    pub id: String,
    pub token: SecretKey,
}

/// Temporary credentials for a workload, in the container credentials protocol's form.
#[derive(Debug)]
pub struct WorkloadCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretKey,
    pub token: SecretKey,
    pub expiration: Timestamp,
    pub role_arn: String,
}

impl WorkloadCredentials {
    /// The JSON document AWS SDKs' container credentials provider reads.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key.expose(),
            "Token": self.token.expose(),
            "Expiration": format_iso8601(self.expiration),
            "RoleArn": self.role_arn,
        })
        .to_string()
    }
}

fn failure_text(f: Failure) -> String {
    match f {
        Failure::Store(e) => e.to_string(),
        Failure::Api(e) => e.message,
    }
}

/// The one answer to a token that is unknown, revoked, or whose profile has no usable role:
/// the endpoint tells a caller nothing more.
fn refused() -> ApiError {
    ApiError::new(
        ErrorCode::AccessDenied,
        "The workload authorization token is not valid.",
    )
}

impl Gatehouse {
    /// Binds a workload to instance profile `profile` of `account`; returns its token.
    pub fn bind_workload(
        &self,
        account: &str,
        profile: &str,
        seconds: i64,
        now: Timestamp,
    ) -> Result<NewWorkload, String> {
        if !(900..=43_200).contains(&seconds) {
            return Err("--duration must be between 900 and 43200 seconds".into());
        }
        write(self.store.as_ref(), |t| {
            let Some(profile) = entity::by_name::<InstanceProfileRecord>(t, account, profile)?
            else {
                return Ok(Err(format!(
                    "no instance profile {profile} in account {account}"
                )));
            };
            let id_bytes = random::<8>().map_err(randomness_unavailable)?;
            let id = format!(
                "wl-{}",
                id_bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            );
            let token =
                gatehouse_types::new_session_token(&random().map_err(randomness_unavailable)?);
            let record = WorkloadRecord {
                v: WorkloadRecord::VERSION,
                id: id.clone(),
                account: account.to_string(),
                instance_profile: profile.id,
                created: now.unix_millis,
                seconds,
            };
            if !t.insert_record(WORKLOADS, &token_digest(token.expose()), &record)? {
                return Err(internal("a workload token was generated twice"));
            }
            Ok::<_, Failure>(Ok(NewWorkload { id, token }))
        })
        .map_err(failure_text)?
    }

    /// Revokes binding `id`; its token stops working at once.
    pub fn revoke_workload(&self, id: &str) -> Result<(), String> {
        write(self.store.as_ref(), |t| {
            let found = t
                .scan_records::<WorkloadRecord>(WORKLOADS, "", None, usize::MAX)?
                .into_iter()
                .find(|(_, w)| w.id == id);
            match found {
                Some((digest, _)) => {
                    t.delete(WORKLOADS, &digest)?;
                    Ok::<_, Failure>(Ok(()))
                }
                None => Ok(Err(format!("no workload binding {id}"))),
            }
        })
        .map_err(failure_text)?
    }

    /// Every binding: id, account, instance profile name.
    pub fn workloads(&self) -> Result<Vec<(String, String, String)>, String> {
        read(self.store.as_ref(), |t| {
            let mut out = Vec::new();
            for (_, w) in t.scan_records::<WorkloadRecord>(WORKLOADS, "", None, usize::MAX)? {
                let profile =
                    entity::by_id::<InstanceProfileRecord>(t, &w.account, &w.instance_profile)?
                        .map_or_else(|| "(deleted)".to_string(), |p| p.name);
                out.push((w.id, w.account, profile));
            }
            Ok::<_, Failure>(out)
        })
        .map_err(failure_text)
    }

    /// Fresh credentials of the role of the instance profile the token is bound to.
    pub fn workload_credentials(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<WorkloadCredentials, ApiError> {
        // Anyone who reaches the endpoint may send a token: an unknown one costs a read, never
        // the write lock.
        let digest = token_digest(token);
        let known = read(self.store.as_ref(), |t| {
            Ok::<_, Failure>(t.get(WORKLOADS, &digest)?.is_some())
        })?;
        if !known {
            return Err(refused());
        }
        let outcome = write(self.store.as_ref(), |t| {
            let Some(binding) = t.get_record::<WorkloadRecord>(WORKLOADS, &digest)? else {
                return Ok(Err(refused()));
            };
            let profile = entity::by_id::<InstanceProfileRecord>(
                t,
                &binding.account,
                &binding.instance_profile,
            )?;
            let role_id = profile.and_then(|p| p.roles.first().cloned());
            let role = match role_id {
                Some(id) => entity::by_id::<RoleRecord>(t, &binding.account, &id)?,
                None => None,
            };
            let Some(role) = role else {
                return Ok(Err(refused()));
            };
            // EC2 assumes the role for the workload: the trust policy must allow it.
            let trust = self
                .compiled
                .get(&role.assume_role_policy, PolicyKind::Trust)?;
            let set = PolicySet {
                resource: Some(gatehouse_policy::NamedPolicy::new("trust", trust)),
                ..PolicySet::default()
            };
            let decision = gatehouse_policy::authorize(
                &set,
                &Request {
                    principal: &Principal::service("ec2.amazonaws.com"),
                    action: "sts:AssumeRole",
                    resource: &role.arn(),
                    resource_account: Some(&role.account),
                    context: &gatehouse_policy::Context::new(),
                },
            );
            if !decision.is_allowed() {
                return Ok(Err(refused()));
            }
            let issued = self.issue_session(
                t,
                &role.account,
                &role.id,
                crate::sessions::Validity {
                    from: now,
                    seconds: binding.seconds,
                    mfa_authenticated: None,
                },
                SessionKind::Role(RoleSessionRecord {
                    session_name: binding.id.clone(),
                    policy: None,
                    policy_arns: Vec::new(),
                    chained: false,
                    tags: Vec::new(),
                    transitive_tag_keys: Vec::new(),
                    source_identity: None,
                }),
            )?;
            Ok::<_, Failure>(Ok(WorkloadCredentials {
                access_key_id: issued.access_key_id,
                secret_access_key: issued.secret,
                token: issued.token,
                expiration: issued.expires,
                role_arn: role.arn(),
            }))
        });
        match outcome {
            Ok(result) => result,
            Err(e) => Err(e.into()),
        }
    }
}
