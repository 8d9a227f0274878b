//! Console passwords: Create/Get/Update/DeleteLoginProfile, ChangePassword, and the account
//! password policy (Get/Update/DeleteAccountPasswordPolicy). Passwords are hashed with
//! argon2id, checked against the policy, and never returned or logged.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    ChangePasswordRequest, CreateLoginProfileRequest, CreateLoginProfileResponse,
    DeleteAccountPasswordPolicyRequest, DeleteLoginProfileRequest, GetAccountPasswordPolicyRequest,
    GetAccountPasswordPolicyResponse, GetLoginProfileRequest, GetLoginProfileResponse,
    LoginProfile, PasswordPolicy, UpdateAccountPasswordPolicyRequest, UpdateLoginProfileRequest,
};
use gatehouse_store::Txn;
use gatehouse_types::{SecretKey, Timestamp};

use crate::Principal;
use crate::authz::{Access, Authorized};
use crate::errors::{Failure, Result, validation};
use crate::iam::users::Subject;
use crate::model::entity::Entity;
use crate::model::records::{
    LOGIN_PROFILES, LoginProfileRecord, PASSWORD_POLICIES, PasswordPolicyRecord, Record, Records,
    UserRecord, key,
};
use crate::passwords::{check, policy_violation};
use crate::pipeline::{Call, Handler, Operation, operation};

fn profile_key(user: &UserRecord) -> String {
    key(&user.account, &[&user.id, "login"])
}

fn no_such_profile(user_name: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("Login Profile for User {user_name} cannot be found."),
    )
    .into()
}

fn password_policy(
    t: &mut (impl Txn + ?Sized),
    account: &str,
) -> Result<Option<PasswordPolicyRecord>> {
    Ok(t.get_record(PASSWORD_POLICIES, account)?)
}

fn profile_shape(user: &UserRecord, p: &LoginProfileRecord) -> LoginProfile {
    LoginProfile {
        user_name: user.name.clone(),
        create_date: Timestamp::from_unix_millis(p.create_date),
        password_reset_required: Some(p.password_reset_required),
    }
}

/// The user a login-profile call is about: the named one, or the calling IAM user.
fn profile_subject(
    call: &mut Call<'_>,
    user_name: Option<&str>,
    action: &'static str,
) -> Result<(Subject, Access)> {
    let subject = Subject::find(call, user_name)?;
    let access = subject.access(call, action);
    Ok((subject, access))
}

fn user_of(subject: Subject) -> Result<UserRecord> {
    match subject {
        Subject::User(user) => (*user).existing(),
        // AWS keeps the root user's password outside IAM's login profiles.
        Subject::Root => Err(validation(
            "The root user has no IAM login profile; name a user.",
        )),
    }
}

/// Sets a new password on a profile, enforcing the policy and reuse prevention.
fn set_password(
    call: &mut Call<'_>,
    profile: &mut LoginProfileRecord,
    password: &SecretKey,
    policy: Option<&PasswordPolicyRecord>,
) -> Result<()> {
    check(policy, password.expose())?;
    let remembered = policy
        .and_then(|p| p.password_reuse_prevention)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0);
    if remembered > 0 {
        let earlier = std::iter::once(&profile.password_hash).chain(profile.previous_hashes.iter());
        for hash in earlier.take(remembered) {
            if call.g.passwords.verify(password, hash)? {
                return Err(policy_violation());
            }
        }
    }
    let old = std::mem::replace(&mut profile.password_hash, call.g.passwords.hash(password)?);
    profile.previous_hashes.insert(0, old);
    profile.previous_hashes.truncate(24);
    profile.password_changed = call.cx.now.unix_millis;
    Ok(())
}

operation!(CreateLoginProfile, Iam, writes, CreateLoginProfileRequest => CreateLoginProfileResponse);
impl Handler for CreateLoginProfile {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &CreateLoginProfileRequest,
    ) -> Result<(Subject, Access)> {
        profile_subject(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &CreateLoginProfileRequest,
    ) -> Result<CreateLoginProfileResponse> {
        let user = user_of(subject)?;
        let password = SecretKey::new(
            input
                .password
                .clone()
                .ok_or_else(|| validation("A password is required to create a login profile."))?,
        );
        if call.t.get(LOGIN_PROFILES, &profile_key(&user))?.is_some() {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                format!("Login Profile for user {} already exists.", user.name),
            )
            .into());
        }
        let policy = password_policy(call.t, &user.account)?;
        check(policy.as_ref(), password.expose())?;
        let now = call.cx.now.unix_millis;
        let profile = LoginProfileRecord {
            v: LoginProfileRecord::VERSION,
            create_date: now,
            password_hash: call.g.passwords.hash(&password)?,
            password_reset_required: input.password_reset_required.unwrap_or(false),
            password_changed: now,
            previous_hashes: Vec::new(),
        };
        call.t
            .put_record(LOGIN_PROFILES, &profile_key(&user), &profile)?;
        Ok(CreateLoginProfileResponse {
            login_profile: profile_shape(&user, &profile),
        })
    }
}

fn existing_profile(call: &mut Call<'_>, user: &UserRecord) -> Result<LoginProfileRecord> {
    call.t
        .get_record(LOGIN_PROFILES, &profile_key(user))?
        .ok_or_else(|| no_such_profile(&user.name))
}

operation!(GetLoginProfile, Iam, reads, GetLoginProfileRequest => GetLoginProfileResponse);
impl Handler for GetLoginProfile {
    type Target = Subject;
    fn resolve(call: &mut Call<'_>, input: &GetLoginProfileRequest) -> Result<(Subject, Access)> {
        profile_subject(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        _: &GetLoginProfileRequest,
    ) -> Result<GetLoginProfileResponse> {
        let user = user_of(subject)?;
        let profile = existing_profile(call, &user)?;
        Ok(GetLoginProfileResponse {
            login_profile: profile_shape(&user, &profile),
        })
    }
}

operation!(UpdateLoginProfile, Iam, writes, UpdateLoginProfileRequest => ());
impl Handler for UpdateLoginProfile {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &UpdateLoginProfileRequest,
    ) -> Result<(Subject, Access)> {
        profile_subject(call, Some(&input.user_name), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &UpdateLoginProfileRequest,
    ) -> Result<()> {
        let user = user_of(subject)?;
        let mut profile = existing_profile(call, &user)?;
        if let Some(password) = &input.password {
            let policy = password_policy(call.t, &user.account)?;
            set_password(
                call,
                &mut profile,
                &SecretKey::new(password.clone()),
                policy.as_ref(),
            )?;
        }
        if let Some(reset) = input.password_reset_required {
            profile.password_reset_required = reset;
        }
        call.t
            .put_record(LOGIN_PROFILES, &profile_key(&user), &profile)?;
        Ok(())
    }
}

operation!(DeleteLoginProfile, Iam, writes, DeleteLoginProfileRequest => ());
impl Handler for DeleteLoginProfile {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteLoginProfileRequest,
    ) -> Result<(Subject, Access)> {
        profile_subject(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        _: &DeleteLoginProfileRequest,
    ) -> Result<()> {
        let user = user_of(subject)?;
        if !call.t.delete(LOGIN_PROFILES, &profile_key(&user))? {
            return Err(no_such_profile(&user.name));
        }
        Ok(())
    }
}

operation!(ChangePassword, Iam, writes, ChangePasswordRequest => ());
impl Handler for ChangePassword {
    type Target = Option<PasswordPolicyRecord>;

    /// A user changes its own password. AWS needs no permission for it while the account's
    /// password policy lets users change their passwords; otherwise `iam:ChangePassword` on
    /// the user.
    fn resolve(call: &mut Call<'_>, _: &ChangePasswordRequest) -> Result<(Self::Target, Access)> {
        let policy = password_policy(call.t, call.account())?;
        let access = if policy
            .as_ref()
            .is_some_and(|p| p.allow_users_to_change_password)
        {
            Access::Exempt("AWS: the password policy lets users change their own password")
        } else {
            Access::to(Self::ACTION, call.cx.caller.arn())
        };
        Ok((policy, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: Self::Target,
        input: &ChangePasswordRequest,
    ) -> Result<()> {
        let Principal::User(me) = &call.cx.caller.principal else {
            return Err(ApiError::new(
                ErrorCode::InvalidUserType,
                "Only IAM users can change their password with this operation.",
            )
            .into());
        };
        // By id: the caller may have been renamed since it authenticated.
        let (account, id) = (me.account.clone(), me.id.clone());
        let user = crate::model::entity::by_id::<UserRecord>(call.t, &account, &id)?
            .ok_or_else(|| UserRecord::no_such(&me.name))?;
        let mut profile = existing_profile(call, &user)?;
        if !call.g.passwords.verify(
            &SecretKey::new(input.old_password.clone()),
            &profile.password_hash,
        )? {
            return Err(
                ApiError::new(ErrorCode::InvalidInput, "The old password is incorrect.").into(),
            );
        }
        set_password(
            call,
            &mut profile,
            &SecretKey::new(input.new_password.clone()),
            policy.as_ref(),
        )?;
        profile.password_reset_required = false;
        call.t
            .put_record(LOGIN_PROFILES, &profile_key(&user), &profile)?;
        Ok(())
    }
}

fn no_such_policy(account: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("The Password Policy with domain name {account} cannot be found."),
    )
    .into()
}

operation!(GetAccountPasswordPolicy, Iam, reads, GetAccountPasswordPolicyRequest => GetAccountPasswordPolicyResponse);
impl Handler for GetAccountPasswordPolicy {
    type Target = Option<PasswordPolicyRecord>;

    /// Users who may change their own password may read the rules it must follow.
    fn resolve(
        call: &mut Call<'_>,
        _: &GetAccountPasswordPolicyRequest,
    ) -> Result<(Self::Target, Access)> {
        let policy = password_policy(call.t, call.account())?;
        let access = if policy
            .as_ref()
            .is_some_and(|p| p.allow_users_to_change_password)
            && matches!(call.cx.caller.principal, Principal::User(_))
        {
            Access::Exempt("AWS: the password policy lets users change their own password")
        } else {
            Access::to(Self::ACTION, "*")
        };
        Ok((policy, access))
    }

    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        policy: Self::Target,
        _: &GetAccountPasswordPolicyRequest,
    ) -> Result<GetAccountPasswordPolicyResponse> {
        let p = policy.ok_or_else(|| no_such_policy(call.account()))?;
        Ok(GetAccountPasswordPolicyResponse {
            password_policy: PasswordPolicy {
                minimum_password_length: Some(p.minimum_password_length),
                require_symbols: Some(p.require_symbols),
                require_numbers: Some(p.require_numbers),
                require_uppercase_characters: Some(p.require_uppercase_characters),
                require_lowercase_characters: Some(p.require_lowercase_characters),
                allow_users_to_change_password: Some(p.allow_users_to_change_password),
                expire_passwords: Some(p.max_password_age.is_some()),
                max_password_age: p.max_password_age,
                password_reuse_prevention: p.password_reuse_prevention,
                hard_expiry: p.max_password_age.map(|_| p.hard_expiry),
            },
        })
    }
}

operation!(UpdateAccountPasswordPolicy, Iam, writes, UpdateAccountPasswordPolicyRequest => ());
impl Handler for UpdateAccountPasswordPolicy {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &UpdateAccountPasswordPolicyRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    /// Like AWS, every field not given goes back to its default.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &UpdateAccountPasswordPolicyRequest,
    ) -> Result<()> {
        let policy = PasswordPolicyRecord {
            v: PasswordPolicyRecord::VERSION,
            minimum_password_length: input.minimum_password_length.unwrap_or(6),
            require_symbols: input.require_symbols.unwrap_or(false),
            require_numbers: input.require_numbers.unwrap_or(false),
            require_uppercase_characters: input.require_uppercase_characters.unwrap_or(false),
            require_lowercase_characters: input.require_lowercase_characters.unwrap_or(false),
            allow_users_to_change_password: input.allow_users_to_change_password.unwrap_or(false),
            max_password_age: input.max_password_age.filter(|d| *d > 0),
            password_reuse_prevention: input.password_reuse_prevention.filter(|n| *n > 0),
            hard_expiry: input.hard_expiry.unwrap_or(false),
        };
        let account = call.account().to_string();
        call.t.put_record(PASSWORD_POLICIES, &account, &policy)?;
        Ok(())
    }
}

operation!(DeleteAccountPasswordPolicy, Iam, writes, DeleteAccountPasswordPolicyRequest => ());
impl Handler for DeleteAccountPasswordPolicy {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &DeleteAccountPasswordPolicyRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &DeleteAccountPasswordPolicyRequest,
    ) -> Result<()> {
        let account = call.account().to_string();
        if !call.t.delete(PASSWORD_POLICIES, &account)? {
            return Err(no_such_policy(&account));
        }
        Ok(())
    }
}
