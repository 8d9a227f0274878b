//! Service-linked roles: CreateServiceLinkedRole, DeleteServiceLinkedRole and
//! GetServiceLinkedRoleDeletionStatus. Each service's role has AWS's name, lives under
//! `/aws-service-role/SERVICE/`, trusts the service, carries the service's AWS managed policy,
//! and can be changed only through these calls (`UnmodifiableEntity` otherwise).

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    CreateServiceLinkedRoleRequest, CreateServiceLinkedRoleResponse,
    DeleteServiceLinkedRoleRequest, DeleteServiceLinkedRoleResponse, DeletionTaskStatusType,
    GetServiceLinkedRoleDeletionStatusRequest, GetServiceLinkedRoleDeletionStatusResponse,
};
use gatehouse_types::{IdKind, new_unique_id};

use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, invalid_input, randomness_unavailable};
use crate::iam::ATTACHMENTS;
use crate::iam::common::named;
use crate::iam::policies::{policy_by_arn, policy_by_id, save_usage};
use crate::iam::roles::{DEFAULT_MAX_SESSION_DURATION, SERVICE_ROLE_PATH, role_shape};
use crate::model::entity::{self, Named, arn_of};
use crate::model::records::{
    DeletionTaskRecord, INLINE_POLICIES, Record, Records, RoleRecord, SLR_DELETION_TASKS, key,
    prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// A service that has a service-linked role: its principal, AWS's role name, the AWS managed
/// policy (under `/aws-service-role/`) the role carries, and whether it takes a custom suffix.
struct LinkedService {
    principal: &'static str,
    role_name: &'static str,
    policy: &'static str,
    custom_suffix: bool,
}

const fn service(
    principal: &'static str,
    role_name: &'static str,
    policy: &'static str,
) -> LinkedService {
    LinkedService {
        principal,
        role_name,
        policy,
        custom_suffix: false,
    }
}

/// From AWS's "AWS services that work with IAM" and each service's guide.
const SERVICES: &[LinkedService] = &[
    LinkedService {
        custom_suffix: true,
        ..service(
            "autoscaling.amazonaws.com",
            "AWSServiceRoleForAutoScaling",
            "AutoScalingServiceRolePolicy",
        )
    },
    service(
        "elasticloadbalancing.amazonaws.com",
        "AWSServiceRoleForElasticLoadBalancing",
        "AWSElasticLoadBalancingServiceRolePolicy",
    ),
    service(
        "ecs.amazonaws.com",
        "AWSServiceRoleForECS",
        "AmazonECSServiceRolePolicy",
    ),
    service(
        "rds.amazonaws.com",
        "AWSServiceRoleForRDS",
        "AmazonRDSServiceRolePolicy",
    ),
    service(
        "elasticache.amazonaws.com",
        "AWSServiceRoleForElastiCache",
        "ElastiCacheServiceRolePolicy",
    ),
    service(
        "eks.amazonaws.com",
        "AWSServiceRoleForAmazonEKS",
        "AmazonEKSServiceRolePolicy",
    ),
    service(
        "eks-nodegroup.amazonaws.com",
        "AWSServiceRoleForAmazonEKSNodegroup",
        "AWSServiceRoleForAmazonEKSNodegroup",
    ),
    service(
        "eks-fargate.amazonaws.com",
        "AWSServiceRoleForAmazonEKSForFargate",
        "AmazonEKSForFargateServiceRolePolicy",
    ),
    service(
        "es.amazonaws.com",
        "AWSServiceRoleForAmazonElasticsearchService",
        "AmazonElasticsearchServiceRolePolicy",
    ),
    service(
        "opensearchservice.amazonaws.com",
        "AWSServiceRoleForAmazonOpenSearchService",
        "AmazonOpenSearchServiceRolePolicy",
    ),
    service(
        "spot.amazonaws.com",
        "AWSServiceRoleForEC2Spot",
        "AWSEC2SpotServiceRolePolicy",
    ),
    service(
        "spotfleet.amazonaws.com",
        "AWSServiceRoleForEC2SpotFleet",
        "AWSEC2SpotFleetServiceRolePolicy",
    ),
    service(
        "ec2fleet.amazonaws.com",
        "AWSServiceRoleForEC2Fleet",
        "AWSEC2FleetServiceRolePolicy",
    ),
    service(
        "organizations.amazonaws.com",
        "AWSServiceRoleForOrganizations",
        "AWSOrganizationsServiceTrustPolicy",
    ),
    service(
        "sso.amazonaws.com",
        "AWSServiceRoleForSSO",
        "AWSSSOServiceRolePolicy",
    ),
    service(
        "config.amazonaws.com",
        "AWSServiceRoleForConfig",
        "AWSConfigServiceRolePolicy",
    ),
    service(
        "guardduty.amazonaws.com",
        "AWSServiceRoleForAmazonGuardDuty",
        "AmazonGuardDutyServiceRolePolicy",
    ),
    service(
        "replicator.lambda.amazonaws.com",
        "AWSServiceRoleForLambdaReplicator",
        "AWSLambdaReplicator",
    ),
    service(
        "replication.dynamodb.amazonaws.com",
        "AWSServiceRoleForDynamoDBReplication",
        "DynamoDBReplicationServiceRolePolicy",
    ),
    service(
        "cloudtrail.amazonaws.com",
        "AWSServiceRoleForCloudTrail",
        "CloudTrailServiceRolePolicy",
    ),
    service(
        "support.amazonaws.com",
        "AWSServiceRoleForSupport",
        "AWSSupportServiceRolePolicy",
    ),
    service(
        "trustedadvisor.amazonaws.com",
        "AWSServiceRoleForTrustedAdvisor",
        "AWSTrustedAdvisorServiceRolePolicy",
    ),
    service(
        "elasticbeanstalk.amazonaws.com",
        "AWSServiceRoleForElasticBeanstalk",
        "AWSElasticBeanstalkServiceRolePolicy",
    ),
    service(
        "ssm.amazonaws.com",
        "AWSServiceRoleForAmazonSSM",
        "AmazonSSMServiceRolePolicy",
    ),
    service(
        "backup.amazonaws.com",
        "AWSServiceRoleForBackup",
        "AWSBackupServiceLinkedRolePolicyForBackup",
    ),
    service(
        "securityhub.amazonaws.com",
        "AWSServiceRoleForSecurityHub",
        "AWSSecurityHubServiceRolePolicy",
    ),
    service(
        "access-analyzer.amazonaws.com",
        "AWSServiceRoleForAccessAnalyzer",
        "AccessAnalyzerServiceRolePolicy",
    ),
];

fn linked_service(principal: &str) -> Option<&'static LinkedService> {
    SERVICES.iter().find(|s| s.principal == principal)
}

/// The role's name and ARN a CreateServiceLinkedRole call asks for.
fn requested(call: &Call<'_>, input: &CreateServiceLinkedRoleRequest) -> (String, String, String) {
    let base = linked_service(&input.aws_service_name).map_or_else(
        || format!("AWSServiceRoleFor{}", input.aws_service_name),
        |s| s.role_name.to_string(),
    );
    let name = match &input.custom_suffix {
        Some(suffix) => format!("{base}_{suffix}"),
        None => base,
    };
    let path = format!("{SERVICE_ROLE_PATH}{}/", input.aws_service_name);
    let arn = arn_of::<RoleRecord>(call.account(), &path, &name);
    (name, path, arn)
}

operation!(CreateServiceLinkedRole, Iam, writes, CreateServiceLinkedRoleRequest => CreateServiceLinkedRoleResponse);
impl Handler for CreateServiceLinkedRole {
    type Target = ();
    fn resolve(
        call: &mut Call<'_>,
        input: &CreateServiceLinkedRoleRequest,
    ) -> Result<((), Access)> {
        let (_, _, arn) = requested(call, input);
        let access = Access::to(Self::ACTION, arn)
            .with("iam:AWSServiceName", vec![input.aws_service_name.clone()]);
        Ok(((), access))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &CreateServiceLinkedRoleRequest,
    ) -> Result<CreateServiceLinkedRoleResponse> {
        let service = linked_service(&input.aws_service_name).ok_or_else(|| {
            invalid_input(format!(
                "{} is not a service that has a service-linked role.",
                input.aws_service_name
            ))
        })?;
        if input.custom_suffix.is_some() && !service.custom_suffix {
            return Err(invalid_input(format!(
                "Custom suffix is not allowed for {}",
                service.principal
            )));
        }
        let (name, path, _) = requested(call, input);
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{}"}},"Action":"sts:AssumeRole"}}]}}"#,
            service.principal
        );
        let mut role = RoleRecord {
            v: RoleRecord::VERSION,
            account: call.account().to_string(),
            name: name.clone(),
            id: new_unique_id(IdKind::Role, &random().map_err(randomness_unavailable)?),
            path,
            create_date: call.cx.now.unix_millis,
            assume_role_policy: trust,
            description: input.description.clone(),
            max_session_duration: DEFAULT_MAX_SESSION_DURATION,
            permissions_boundary: None,
            tags: Vec::new(),
            policies_rev: 0,
            attached_policies: Vec::new(),
        };
        entity::create(call.t, &role).map_err(|e| taken(e, &name))?;
        let policy_arn = format!(
            "arn:aws:iam::aws:policy/aws-service-role/{}",
            service.policy
        );
        if let Some(mut policy) = policy_by_arn(call.t, call.account(), &policy_arn)? {
            let account = role.account.clone();
            ATTACHMENTS.link(call.t, &account, &role.id, &policy.id)?;
            role.attached_policies.push(policy.id.clone());
            entity::save(call.t, &role)?;
            policy.attachment_count += 1;
            save_usage(call.t, &account, &policy)?;
        }
        Ok(CreateServiceLinkedRoleResponse {
            role: Some(role_shape(&role, false)),
        })
    }
}

/// AWS's answer when the service's role already exists.
fn taken(e: Failure, name: &str) -> Failure {
    if matches!(&e, Failure::Api(api) if api.code == ErrorCode::EntityAlreadyExists) {
        return invalid_input(format!(
            "Service role name {name} has been taken in this account, please try a different \
             suffix."
        ));
    }
    e
}

operation!(DeleteServiceLinkedRole, Iam, writes, DeleteServiceLinkedRoleRequest => DeleteServiceLinkedRoleResponse);
impl Handler for DeleteServiceLinkedRole {
    type Target = Named<RoleRecord>;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteServiceLinkedRoleRequest,
    ) -> Result<(Self::Target, Access)> {
        named(call, &input.role_name, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        role: Self::Target,
        _: &DeleteServiceLinkedRoleRequest,
    ) -> Result<DeleteServiceLinkedRoleResponse> {
        let mut role = role.existing()?;
        let Some(service) = role
            .path
            .strip_prefix(SERVICE_ROLE_PATH)
            .map(|s| s.trim_end_matches('/').to_string())
        else {
            return Err(invalid_input(format!(
                "Role {} is not a service-linked role.",
                role.name
            )));
        };
        let account = role.account.clone();
        for id in std::mem::take(&mut role.attached_policies) {
            ATTACHMENTS.unlink(call.t, &account, &role.id, &id)?;
            if let Some(mut policy) = policy_by_id(call.t, &account, &id)? {
                policy.attachment_count = policy.attachment_count.saturating_sub(1);
                save_usage(call.t, &account, &policy)?;
            }
        }
        for name in call
            .t
            .child_ids(INLINE_POLICIES, &prefix(&account, &[&role.id]))?
        {
            call.t
                .delete(INLINE_POLICIES, &key(&account, &[&role.id, &name]))?;
        }
        entity::delete(call.t, &role)?;
        let uuid: [u8; 16] = random().map_err(randomness_unavailable)?;
        let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
        let task = format!(
            "task/aws-service-role/{service}/{}/{}-{}-{}-{}-{}",
            role.name,
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        call.t.put_record(
            SLR_DELETION_TASKS,
            &key(&account, &[&task]),
            &DeletionTaskRecord {
                v: DeletionTaskRecord::VERSION,
                role_name: role.name.clone(),
                succeeded: true,
            },
        )?;
        Ok(DeleteServiceLinkedRoleResponse {
            deletion_task_id: task,
        })
    }
}

operation!(GetServiceLinkedRoleDeletionStatus, Iam, reads, GetServiceLinkedRoleDeletionStatusRequest => GetServiceLinkedRoleDeletionStatusResponse);
impl Handler for GetServiceLinkedRoleDeletionStatus {
    type Target = ();
    /// The task id names the role (`task/aws-service-role/SERVICE/ROLE/UUID`): the permission
    /// is asked on it.
    fn resolve(
        call: &mut Call<'_>,
        input: &GetServiceLinkedRoleDeletionStatusRequest,
    ) -> Result<((), Access)> {
        let parts: Vec<&str> = input.deletion_task_id.split('/').collect();
        let resource = match parts.as_slice() {
            ["task", "aws-service-role", service, role, _] => arn_of::<RoleRecord>(
                call.account(),
                &format!("{SERVICE_ROLE_PATH}{service}/"),
                role,
            ),
            _ => "*".to_string(),
        };
        Ok(((), Access::to(Self::ACTION, resource)))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &GetServiceLinkedRoleDeletionStatusRequest,
    ) -> Result<GetServiceLinkedRoleDeletionStatusResponse> {
        let task: Option<DeletionTaskRecord> = call.t.get_record(
            SLR_DELETION_TASKS,
            &key(call.account(), &[&input.deletion_task_id]),
        )?;
        match task {
            Some(t) if t.succeeded => Ok(GetServiceLinkedRoleDeletionStatusResponse {
                status: DeletionTaskStatusType::Succeeded,
                reason: None,
            }),
            Some(_) => Ok(GetServiceLinkedRoleDeletionStatusResponse {
                status: DeletionTaskStatusType::Failed,
                reason: None,
            }),
            None => Err(ApiError::new(
                ErrorCode::NoSuchEntity,
                format!("Deletion task {} cannot be found.", input.deletion_task_id),
            )
            .into()),
        }
    }
}
