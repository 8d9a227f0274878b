//! The STS API: the generated [`StsApi`] trait, routed through the one pipeline.

use gatehouse_policy::PolicyKind;
use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::sts::{
    AssumeRoleRequest, AssumeRoleResponse, AssumedRoleUser, Credentials,
    DecodeAuthorizationMessageRequest, DecodeAuthorizationMessageResponse, FederatedUser,
    GetAccessKeyInfoRequest, GetAccessKeyInfoResponse, GetCallerIdentityRequest,
    GetCallerIdentityResponse, GetFederationTokenRequest, GetFederationTokenResponse,
    GetSessionTokenRequest, GetSessionTokenResponse, StsApi,
};
use gatehouse_types::Arn;

use crate::Principal;
use crate::authz::{Access, Authorized, ResourcePolicy, parse_policy};
use crate::errors::Result;
use crate::model::entity::{self, Entity};
use crate::model::records::{FederatedSessionRecord, ROOT_OWNER, RoleRecord, RoleSessionRecord};
use crate::pipeline::{Call, Handler, Operation, operation, operations};
use crate::sessions::{SessionKind, Validity};

/// `GetSessionToken`'s durations (AWS): 15 minutes to 36 hours for a user, 12 hours by default;
/// at most (and by default) one hour for the root user.
const SESSION_MIN_SECONDS: i64 = 900;
const USER_SESSION_MAX_SECONDS: i64 = 129_600;
const USER_SESSION_DEFAULT_SECONDS: i64 = 43_200;
const ROOT_SESSION_SECONDS: i64 = 3_600;

/// Whose long-term credentials call `GetSessionToken` or `GetFederationToken` (the owner the
/// session is stored under) and how long its session lasts, by AWS's rules: 15 minutes to 36
/// hours for a user, 12 hours by default; the root user's at most, and by default, one hour
/// ("If the duration is longer than one hour, the session for Amazon Web Services account
/// owners defaults to one hour."). Temporary credentials may not call them.
fn long_term_owner(
    call: &Call<'_>,
    operation: &str,
    requested: Option<i32>,
) -> Result<(String, i64)> {
    let requested = requested.map(i64::from);
    let (owner, seconds) = match &call.cx.caller.principal {
        Principal::Root => (
            ROOT_OWNER.to_string(),
            requested
                .unwrap_or(ROOT_SESSION_SECONDS)
                .min(ROOT_SESSION_SECONDS),
        ),
        Principal::User(user) => (
            user.id.clone(),
            requested.unwrap_or(USER_SESSION_DEFAULT_SECONDS),
        ),
        Principal::AssumedRole(_) | Principal::FederatedUser(_) => {
            return Err(crate::sessions::with_session_credentials(operation).into());
        }
    };
    if !(SESSION_MIN_SECONDS..=USER_SESSION_MAX_SECONDS).contains(&seconds) {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            format!(
                "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed to \
                 satisfy constraint: Member must have value {}",
                if seconds < SESSION_MIN_SECONDS {
                    "greater than or equal to 900"
                } else {
                    "less than or equal to 129600"
                }
            ),
        )
        .into());
    }
    Ok((owner, seconds))
}

/// The wire form of credentials just issued.
fn credentials(issued: crate::sessions::Issued) -> Credentials {
    Credentials {
        access_key_id: issued.access_key_id,
        secret_access_key: issued.secret.expose().to_string(),
        session_token: issued.token.expose().to_string(),
        expiration: issued.expires,
    }
}

operation!(GetSessionToken, Sts, writes, GetSessionTokenRequest => GetSessionTokenResponse);
impl Handler for GetSessionToken {
    type Target = ();

    fn resolve(_: &mut Call<'_>, _: &GetSessionTokenRequest) -> Result<((), Access)> {
        Ok((
            (),
            Access::Exempt(
                "AWS: no permissions are required for users to perform this operation; its \
                 purpose is to authenticate the user, and policies cannot control it",
            ),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &GetSessionTokenRequest,
    ) -> Result<GetSessionTokenResponse> {
        // Temporary credentials calling it are refused by the pipeline (`sessions`).
        let (owner, seconds) = long_term_owner(call, Self::NAME, input.duration_seconds)?;
        let mfa = crate::iam::mfa_code(
            call,
            input.serial_number.as_deref(),
            input.token_code.as_deref(),
        )?;
        let mfa_authenticated = mfa.map(|code| code.spend(call)).transpose()?;
        let account = call.account();
        let validity = Validity {
            from: call.cx.now,
            seconds,
            mfa_authenticated,
        };
        let issued = call
            .g
            .issue_session(call.t, account, &owner, validity, SessionKind::Token)?;
        Ok(GetSessionTokenResponse {
            credentials: Some(credentials(issued)),
        })
    }
}

operation!(GetCallerIdentity, Sts, reads, GetCallerIdentityRequest => GetCallerIdentityResponse);
impl Handler for GetCallerIdentity {
    type Target = ();

    fn resolve(_: &mut Call<'_>, _: &GetCallerIdentityRequest) -> Result<((), Access)> {
        Ok((
            (),
            Access::Exempt(
                "AWS: no permission is required to perform this operation; \
                 a policy that denies it has no effect",
            ),
        ))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &GetCallerIdentityRequest,
    ) -> Result<GetCallerIdentityResponse> {
        let caller = &call.cx.caller;
        let user_id = match &caller.principal {
            Principal::Root => caller.account.to_string(),
            Principal::User(user) => user.id.clone(),
            Principal::AssumedRole(session) => session.id(),
            Principal::FederatedUser(federated) => federated.id(),
        };
        Ok(GetCallerIdentityResponse {
            user_id: Some(user_id),
            account: Some(caller.account.to_string()),
            arn: Some(caller.arn()),
        })
    }
}

/// A role session's default length, and AWS's limit for one assumed with temporary
/// credentials (role chaining).
const ROLE_SESSION_DEFAULT_SECONDS: i64 = 3_600;
const CHAINED_SESSION_MAX_SECONDS: i64 = 3_600;
/// AWS's limits on session policies: managed ones by ARN, and the packed size of all of them.
const MAX_SESSION_POLICY_ARNS: usize = 10;
const PACKED_POLICY_LIMIT: usize = 2_048;

/// Checks session policies as AWS does: the inline one parses as a policy, at most 10 managed
/// ones; returns their ARNs and the share of the packed space they take (in percent; over
/// 100 is PackedPolicyTooLarge).
fn session_policies(
    policy: Option<&str>,
    descriptors: Option<&[gatehouse_protocol::sts::PolicyDescriptorType]>,
    tags: &[(String, String)],
) -> Result<(Vec<String>, usize)> {
    if let Some(policy) = policy {
        parse_policy(policy, PolicyKind::Session)?;
    }
    let policy_arns: Vec<String> = descriptors
        .into_iter()
        .flatten()
        .filter_map(|p| p.arn.clone())
        .collect();
    if policy_arns.len() > MAX_SESSION_POLICY_ARNS {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            format!(
                "1 validation error detected: Value at 'policyArns' failed to satisfy \
                 constraint: Member must have length less than or equal to \
                 {MAX_SESSION_POLICY_ARNS}"
            ),
        )
        .into());
    }
    // AWS packs the session policies (whitespace aside) and reports what share of the
    // allowed space they take.
    let packed: usize = policy
        .iter()
        .map(|p| p.chars().filter(|c| !c.is_whitespace()).count())
        .chain(policy_arns.iter().map(String::len))
        .chain(tags.iter().map(|(k, v)| k.len() + v.len()))
        .sum();
    let packed_percent = (packed * 100).div_ceil(PACKED_POLICY_LIMIT);
    if packed_percent > 100 {
        return Err(ApiError::new(
            ErrorCode::PackedPolicyTooLarge,
            format!(
                "Packed policy consumes {packed_percent}% of allotted space, please use \
                 smaller policy for the request."
            ),
        )
        .into());
    }
    Ok((policy_arns, packed_percent))
}

/// Tags as key and value.
type Tags = Vec<(String, String)>;

/// AWS's most session tags on one session.
const MAX_SESSION_TAGS: usize = 50;

fn validation(message: String) -> crate::errors::Failure {
    ApiError::new(ErrorCode::ValidationError, message).into()
}

/// The session's tags: the caller session's transitive tags (which a new tag may not
/// override), then the request's; and which of them pass on again.
fn session_tags(
    requested: Option<&[gatehouse_protocol::sts::Tag]>,
    transitive_keys: Option<&[String]>,
    carried: Option<&RoleSessionRecord>,
) -> Result<(Tags, Vec<String>)> {
    let mut tags: Tags = Vec::new();
    let mut transitive: Vec<String> = Vec::new();
    if let Some(carried) = carried {
        for key in &carried.transitive_tag_keys {
            if let Some((k, v)) = carried
                .tags
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
            {
                tags.push((k.clone(), v.clone()));
                transitive.push(k.clone());
            }
        }
    }
    for tag in requested.unwrap_or_default() {
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(validation(format!(
                "Tag key {} is not allowed: the prefix aws: is reserved for AWS",
                tag.key
            )));
        }
        if tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(&tag.key)) {
            return Err(validation(format!(
                "Duplicate tag key {}, or one that would override a transitive tag of the \
                 calling session",
                tag.key
            )));
        }
        tags.push((tag.key.clone(), tag.value.clone()));
    }
    if tags.len() > MAX_SESSION_TAGS {
        return Err(validation(format!(
            "A session can have at most {MAX_SESSION_TAGS} tags"
        )));
    }
    for key in transitive_keys.unwrap_or_default() {
        if !requested
            .unwrap_or_default()
            .iter()
            .any(|t| t.key.eq_ignore_ascii_case(key))
        {
            return Err(validation(format!(
                "Transitive tag key {key} is not among the session's tags"
            )));
        }
        if !transitive.iter().any(|k| k.eq_ignore_ascii_case(key)) {
            transitive.push(key.clone());
        }
    }
    Ok((tags, transitive))
}

/// The session's source identity: the request's (2 to 64 characters of `[\w+=,.@-]`, not
/// starting with `aws:`), or the calling session's, which a role chain cannot change.
fn source_identity(
    requested: Option<&str>,
    carried: Option<&RoleSessionRecord>,
) -> Result<Option<String>> {
    let carried = carried.and_then(|c| c.source_identity.clone());
    let Some(requested) = requested else {
        return Ok(carried);
    };
    let well_formed = (2..=64).contains(&requested.len())
        && requested
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
        && !requested.to_ascii_lowercase().starts_with("aws:");
    if !well_formed {
        return Err(validation(format!(
            "SourceIdentity {requested} is not valid: 2 to 64 letters, digits or _+=,.@-, not \
             starting with aws:"
        )));
    }
    match carried {
        Some(carried) if carried != requested => Err(ApiError::new(
            ErrorCode::AccessDenied,
            "The source identity of a role chain cannot be changed",
        )
        .into()),
        _ => Ok(Some(requested.to_string())),
    }
}

/// The options of `GetFederationToken` and `AssumeRole` not supported yet: an explicit 501,
/// never a silent session without them.
fn refuse_unsupported(operation: &str, options: &[(&str, bool)]) -> Result<()> {
    match options.iter().find(|(_, given)| *given) {
        Some((what, _)) => Err(ApiError::new(
            ErrorCode::NotImplemented,
            format!("{operation} with {what} is not implemented yet"),
        )
        .into()),
        None => Ok(()),
    }
}

operation!(GetFederationToken, Sts, writes, GetFederationTokenRequest => GetFederationTokenResponse);
impl Handler for GetFederationToken {
    /// The federated user's ARN and its session tags.
    type Target = (String, Tags);

    /// Session tags also need `sts:TagSession` on the federated user, as on AWS.
    fn resolve(
        call: &mut Call<'_>,
        input: &GetFederationTokenRequest,
    ) -> Result<(Self::Target, Access)> {
        let arn = format!(
            "arn:aws:sts::{}:federated-user/{}",
            call.account(),
            input.name
        );
        let (tags, _) = session_tags(input.tags.as_deref(), None, None)?;
        let mut access = Access::to(Self::ACTION, arn.clone());
        if !tags.is_empty() {
            access = access
                .and("sts:TagSession", arn.clone())
                .with_request_tags(&tags);
        }
        Ok(((arn, tags), access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (arn, tags): Self::Target,
        input: &GetFederationTokenRequest,
    ) -> Result<GetFederationTokenResponse> {
        let (owner, seconds) = long_term_owner(call, Self::NAME, input.duration_seconds)?;
        let (policy_arns, packed_percent) =
            session_policies(input.policy.as_deref(), input.policy_arns.as_deref(), &tags)?;
        let session = FederatedSessionRecord {
            name: input.name.clone(),
            policy: input.policy.clone(),
            policy_arns,
            tags,
        };
        let federated = crate::FederatedUser {
            account: call.account().to_string(),
            user: None,
            session: session.clone(),
        };
        let account = call.account();
        let validity = Validity {
            from: call.cx.now,
            seconds,
            mfa_authenticated: None,
        };
        let issued = call.g.issue_session(
            call.t,
            account,
            &owner,
            validity,
            SessionKind::Federated(session),
        )?;
        let sized = input.policy.is_some()
            || input.policy_arns.is_some()
            || !federated.session.tags.is_empty();
        Ok(GetFederationTokenResponse {
            credentials: Some(credentials(issued)),
            federated_user: Some(FederatedUser {
                federated_user_id: federated.id(),
                arn,
            }),
            packed_policy_size: sized.then(|| i32::try_from(packed_percent).unwrap_or(100)),
        })
    }
}

/// AWS answers a role that does not exist as it answers one that does not trust the caller:
/// whether a role exists is not told to those who may not assume it.
fn not_authorized_to_assume(call: &Call<'_>, role_arn: &str) -> crate::errors::Failure {
    ApiError::new(
        ErrorCode::AccessDenied,
        format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
            call.cx.caller.arn()
        ),
    )
    .into()
}

operation!(AssumeRole, Sts, writes, AssumeRoleRequest => AssumeRoleResponse);
impl Handler for AssumeRole {
    /// The role, and the MFA code the call gave (spent once the call succeeds).
    type Target = (RoleRecord, Option<crate::iam::MfaCode>);

    /// The role's trust policy decides with the caller's own policies (across accounts both
    /// must allow; within one, a trust policy naming the caller itself is enough).
    fn resolve(call: &mut Call<'_>, input: &AssumeRoleRequest) -> Result<(Self::Target, Access)> {
        let Ok(arn) = Arn::parse(&input.role_arn) else {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                format!("{} is invalid", input.role_arn),
            )
            .into());
        };
        // Any other ARN than an existing role's is a resource the caller may not assume.
        let name = (arn.service == "iam")
            .then(|| arn.resource.strip_prefix("role/"))
            .flatten()
            .and_then(|path| path.rsplit('/').next());
        let role = match name {
            Some(name) => entity::by_name::<RoleRecord>(call.t, &arn.account, name)?
                .filter(|r| r.arn() == input.role_arn),
            None => None,
        };
        let role = role.ok_or_else(|| not_authorized_to_assume(call, &input.role_arn))?;
        let mut context = vec![(
            "sts:RoleSessionName".to_string(),
            vec![input.role_session_name.clone()],
        )];
        if let Some(external_id) = &input.external_id {
            context.push(("sts:ExternalId".to_string(), vec![external_id.clone()]));
        }
        let tags: Vec<&gatehouse_protocol::sts::Tag> = input.tags.iter().flatten().collect();
        for tag in &tags {
            context.push((
                format!("aws:RequestTag/{}", tag.key),
                vec![tag.value.clone()],
            ));
        }
        if !tags.is_empty() {
            context.push((
                "aws:TagKeys".to_string(),
                tags.iter().map(|t| t.key.clone()).collect(),
            ));
        }
        if let Some(keys) = &input.transitive_tag_keys {
            context.push(("sts:TransitiveTagKeys".to_string(), keys.clone()));
        }
        if let Some(source_identity) = &input.source_identity {
            context.push((
                "sts:SourceIdentity".to_string(),
                vec![source_identity.clone()],
            ));
        }
        // A code given with the call authenticates it with MFA (a session's own MFA, if it
        // has any, is in the global context already).
        let mfa = crate::iam::mfa_code(
            call,
            input.serial_number.as_deref(),
            input.token_code.as_deref(),
        )?;
        if mfa.is_some() {
            context.push((
                "aws:MultiFactorAuthPresent".to_string(),
                vec!["true".to_string()],
            ));
            context.push(("aws:MultiFactorAuthAge".to_string(), vec!["0".to_string()]));
        }
        let mut access = Access::under_resource_policy(
            "sts:AssumeRole",
            role.arn(),
            ResourcePolicy {
                document: role.assume_role_policy.clone(),
                kind: PolicyKind::Trust,
                account: role.account.clone(),
            },
            context,
        );
        // AWS: passing session tags also needs sts:TagSession, and a source identity
        // sts:SetSourceIdentity, from the trust policy and the caller's policies alike.
        if !tags.is_empty() || input.transitive_tag_keys.is_some() {
            access = access.and_alike("sts:TagSession");
        }
        if input.source_identity.is_some() {
            access = access.and_alike("sts:SetSourceIdentity");
        }
        Ok(((role, mfa), access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (role, mfa): Self::Target,
        input: &AssumeRoleRequest,
    ) -> Result<AssumeRoleResponse> {
        refuse_unsupported(
            Self::NAME,
            &[("ProvidedContexts", input.provided_contexts.is_some())],
        )?;
        // MFA now, or the calling session's, carries to the new session.
        let mfa_authenticated = match mfa {
            Some(code) => Some(code.spend(call)?),
            None => call
                .cx
                .caller
                .session
                .as_ref()
                .and_then(|s| s.mfa_authenticated),
        };
        let carried = match &call.cx.caller.principal {
            Principal::AssumedRole(caller) => Some(&caller.session),
            _ => None,
        };
        let (tags, transitive_tag_keys) = session_tags(
            input.tags.as_deref(),
            input.transitive_tag_keys.as_deref(),
            carried,
        )?;
        let source_identity = source_identity(input.source_identity.as_deref(), carried)?;
        // Role chaining is a role session assuming a role; a GetSessionToken session is not one.
        let chained = matches!(call.cx.caller.principal, Principal::AssumedRole(_));
        let seconds = input
            .duration_seconds
            .map_or(ROLE_SESSION_DEFAULT_SECONDS, i64::from);
        if chained && seconds > CHAINED_SESSION_MAX_SECONDS {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "The requested DurationSeconds exceeds the 1 hour session limit for roles \
                 assumed by role chaining.",
            )
            .into());
        }
        if seconds > i64::from(role.max_session_duration) {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            )
            .into());
        }
        if seconds < SESSION_MIN_SECONDS {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                format!(
                    "1 validation error detected: Value '{seconds}' at 'durationSeconds' failed \
                     to satisfy constraint: Member must have value greater than or equal to 900"
                ),
            )
            .into());
        }
        let (policy_arns, packed_percent) =
            session_policies(input.policy.as_deref(), input.policy_arns.as_deref(), &tags)?;
        let session = RoleSessionRecord {
            session_name: input.role_session_name.clone(),
            policy: input.policy.clone(),
            policy_arns,
            chained,
            tags,
            transitive_tag_keys,
            source_identity: source_identity.clone(),
        };
        let assumed = crate::AssumedRole {
            role: std::sync::Arc::new(role.clone()),
            session: session.clone(),
        };
        let validity = Validity {
            from: call.cx.now,
            seconds,
            mfa_authenticated,
        };
        let issued = call.g.issue_session(
            call.t,
            &role.account,
            &role.id,
            validity,
            SessionKind::Role(session),
        )?;
        let sized = input.policy.is_some()
            || input.policy_arns.is_some()
            || !assumed.session.tags.is_empty();
        Ok(AssumeRoleResponse {
            credentials: Some(credentials(issued)),
            assumed_role_user: Some(AssumedRoleUser {
                assumed_role_id: assumed.id(),
                arn: assumed.arn(),
            }),
            packed_policy_size: sized.then(|| i32::try_from(packed_percent).unwrap_or(100)),
            source_identity,
        })
    }
}

operation!(DecodeAuthorizationMessage, Sts, reads, DecodeAuthorizationMessageRequest => DecodeAuthorizationMessageResponse);
impl Handler for DecodeAuthorizationMessage {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &DecodeAuthorizationMessageRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &DecodeAuthorizationMessageRequest,
    ) -> Result<DecodeAuthorizationMessageResponse> {
        Ok(DecodeAuthorizationMessageResponse {
            decoded_message: Some(
                call.g
                    .decode_authorization_message(&input.encoded_message)?,
            ),
        })
    }
}

operation!(GetAccessKeyInfo, Sts, reads, GetAccessKeyInfoRequest => GetAccessKeyInfoResponse);
impl Handler for GetAccessKeyInfo {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &GetAccessKeyInfoRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    /// The account a key (long-term or temporary) belongs to, whatever its state. AWS reads
    /// the account out of any key id; Gatehouse's ids are random, so it answers for the keys it
    /// holds (README, "differs").
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &GetAccessKeyInfoRequest,
    ) -> Result<GetAccessKeyInfoResponse> {
        use crate::model::records::{
            ACCESS_KEYS, AccessKeyRecord, Records, SESSIONS, SessionRecord,
        };
        let id = input.access_key_id.as_str();
        let account = match call.t.get_record::<AccessKeyRecord>(ACCESS_KEYS, id)? {
            Some(key) => Some(key.account),
            None => call
                .t
                .get_record::<SessionRecord>(SESSIONS, id)?
                .map(|s| s.account),
        };
        let account = account.ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationError,
                format!("The access key ID {id} was not issued by this service."),
            )
        })?;
        Ok(GetAccessKeyInfoResponse {
            account: Some(account),
        })
    }
}

operations!(StsApi {
    decode_authorization_message => DecodeAuthorizationMessage,
    get_access_key_info => GetAccessKeyInfo,
    assume_role => AssumeRole,
    get_federation_token => GetFederationToken,
    get_caller_identity => GetCallerIdentity,
    get_session_token => GetSessionToken,
});
