//! The credential report: GenerateCredentialReport and GetCredentialReport. One CSV row per
//! user (the root user first) in AWS's columns and value forms. A report is reused for four
//! hours, as AWS does; generating one takes a single read transaction, so it is complete by the
//! time GenerateCredentialReport answers.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    GenerateCredentialReportRequest, GenerateCredentialReportResponse, GetCredentialReportRequest,
    GetCredentialReportResponse, ReportFormatType, ReportStateType,
};
use gatehouse_types::{Timestamp, format_iso8601};

use crate::authz::{Access, Authorized};
use crate::errors::Result;
use crate::model::records::{
    ACCESS_KEYS, ACCOUNTS, AccessKeyRecord, AccountRecord, CREDENTIAL_REPORTS,
    CredentialReportRecord, KEY_LAST_USED, KeyStatus, LOGIN_PROFILES, LastUsed, LoginProfileRecord,
    PASSWORD_POLICIES, PRINCIPAL_KEYS, PasswordPolicyRecord, ROOT_OWNER, Record, Records,
    SIGNING_CERTIFICATES, SigningCertificateRecord, USERS, UserRecord, key, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// How long AWS reuses a report before generating a new one.
const REPORT_LIFETIME_MILLIS: i64 = 4 * 3600 * 1000;

/// AWS's columns, in order.
const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,\
password_last_changed,password_next_rotation,mfa_active,access_key_1_active,\
access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,\
access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,\
access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,\
cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

/// A date as the report writes it: `2017-06-10T02:43:37+00:00`.
fn date(millis: i64) -> String {
    let text = format_iso8601(Timestamp::from_unix_millis(millis));
    match text.strip_suffix('Z') {
        Some(rest) => format!("{rest}+00:00"),
        None => text,
    }
}

fn flag(b: bool) -> String {
    if b { "true" } else { "false" }.to_string()
}

/// The access-key and certificate columns of one owner.
fn credential_columns(call: &mut Call<'_>, owner: &str) -> Result<Vec<String>> {
    let account = call.account().to_string();
    let mut keys: Vec<AccessKeyRecord> = Vec::new();
    for id in call
        .t
        .child_ids(PRINCIPAL_KEYS, &prefix(&account, &[owner]))?
    {
        keys.extend(call.t.get_record::<AccessKeyRecord>(ACCESS_KEYS, &id)?);
    }
    keys.sort_by_key(|k| k.create_date);
    let mut out = Vec::with_capacity(14);
    for slot in 0..2 {
        match keys.get(slot) {
            Some(k) => {
                let used: Option<LastUsed> = call.t.get_record(KEY_LAST_USED, &k.id)?;
                out.push(flag(k.status == KeyStatus::Active));
                out.push(date(k.create_date));
                match used {
                    Some(u) => {
                        out.push(date(u.date));
                        out.push(u.region);
                        out.push(u.service);
                    }
                    None => out.extend(["N/A", "N/A", "N/A"].map(String::from)),
                }
            }
            None => out.extend(["false", "N/A", "N/A", "N/A", "N/A"].map(String::from)),
        }
    }
    let mut certs: Vec<SigningCertificateRecord> = call
        .t
        .scan_records(
            SIGNING_CERTIFICATES,
            &prefix(&account, &[owner]),
            None,
            usize::MAX,
        )?
        .into_iter()
        .map(|(_, c)| c)
        .collect();
    certs.sort_by_key(|c| c.upload_date);
    for slot in 0..2 {
        match certs.get(slot) {
            Some(c) => {
                out.push(flag(c.status == KeyStatus::Active));
                out.push(date(c.upload_date));
            }
            None => out.extend(["false", "N/A"].map(String::from)),
        }
    }
    Ok(out)
}

fn generate(call: &mut Call<'_>) -> Result<String> {
    let account = call.account().to_string();
    let created = call
        .t
        .get_record::<AccountRecord>(ACCOUNTS, &account)?
        .map_or(0, |a| a.created);
    let policy: Option<PasswordPolicyRecord> = call.t.get_record(PASSWORD_POLICIES, &account)?;
    let mut lines = vec![HEADER.to_string()];
    let mut root = vec![
        "<root_account>".to_string(),
        format!("arn:aws:iam::{account}:root"),
        date(created),
        "not_supported".to_string(),
        "no_information".to_string(),
        "not_supported".to_string(),
        "not_supported".to_string(),
        flag(crate::iam::has_device(call.t, &account, ROOT_OWNER)?),
    ];
    root.extend(credential_columns(call, ROOT_OWNER)?);
    lines.push(root.join(","));
    let mut users: Vec<UserRecord> = call
        .t
        .scan_records(USERS, &prefix(&account, &[]), None, usize::MAX)?
        .into_iter()
        .map(|(_, u)| u)
        .collect();
    users.sort_by_key(|u| u.name.to_lowercase());
    for user in users {
        let profile: Option<LoginProfileRecord> = call
            .t
            .get_record(LOGIN_PROFILES, &key(&account, &[&user.id, "login"]))?;
        let (enabled, last_used, changed, next_rotation) = match &profile {
            Some(p) => (
                flag(true),
                user.password_last_used
                    .map_or_else(|| "no_information".to_string(), date),
                date(p.password_changed),
                policy
                    .as_ref()
                    .and_then(|pp| pp.max_password_age)
                    .map_or_else(
                        || "N/A".to_string(),
                        |days| date(p.password_changed + i64::from(days) * 86_400_000),
                    ),
            ),
            None => (flag(false), "N/A".into(), "N/A".into(), "N/A".into()),
        };
        let mut row = vec![
            user.name.clone(),
            crate::model::entity::Entity::arn(&user),
            date(user.create_date),
            enabled,
            last_used,
            changed,
            next_rotation,
            flag(crate::iam::has_device(call.t, &account, &user.id)?),
        ];
        row.extend(credential_columns(call, &user.id)?);
        lines.push(row.join(","));
    }
    Ok(lines.join("\n"))
}

operation!(GenerateCredentialReport, Iam, writes, GenerateCredentialReportRequest => GenerateCredentialReportResponse);
impl Handler for GenerateCredentialReport {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &GenerateCredentialReportRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &GenerateCredentialReportRequest,
    ) -> Result<GenerateCredentialReportResponse> {
        let account = call.account().to_string();
        let now = call.cx.now.unix_millis;
        let current: Option<CredentialReportRecord> =
            call.t.get_record(CREDENTIAL_REPORTS, &account)?;
        if current
            .as_ref()
            .is_some_and(|r| now - r.generated < REPORT_LIFETIME_MILLIS)
        {
            return Ok(GenerateCredentialReportResponse {
                state: Some(ReportStateType::Complete),
                description: None,
            });
        }
        let content = generate(call)?;
        call.t.put_record(
            CREDENTIAL_REPORTS,
            &account,
            &CredentialReportRecord {
                v: CredentialReportRecord::VERSION,
                generated: now,
                content,
            },
        )?;
        Ok(GenerateCredentialReportResponse {
            state: Some(ReportStateType::Started),
            description: Some(
                if current.is_some() {
                    "The report has expired. Starting a new report generation task"
                } else {
                    "No report exists. Starting a new report generation task"
                }
                .to_string(),
            ),
        })
    }
}

operation!(GetCredentialReport, Iam, reads, GetCredentialReportRequest => GetCredentialReportResponse);
impl Handler for GetCredentialReport {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &GetCredentialReportRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        _: &GetCredentialReportRequest,
    ) -> Result<GetCredentialReportResponse> {
        let account = call.account().to_string();
        let report: CredentialReportRecord = call
            .t
            .get_record(CREDENTIAL_REPORTS, &account)?
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::ReportNotPresent,
                    "Credential report not present. Call GenerateCredentialReport first.",
                )
            })?;
        if call.cx.now.unix_millis - report.generated >= REPORT_LIFETIME_MILLIS {
            return Err(ApiError::new(
                ErrorCode::ReportExpired,
                "The credential report has expired. Call GenerateCredentialReport for a new one.",
            )
            .into());
        }
        Ok(GetCredentialReportResponse {
            content: Some(report.content.into_bytes()),
            report_format: Some(ReportFormatType::TextCsv),
            generated_time: Some(Timestamp::from_unix_millis(report.generated)),
        })
    }
}
