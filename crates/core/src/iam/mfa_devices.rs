//! Virtual MFA devices: CreateVirtualMFADevice (the seed and its QR code, shown once),
//! EnableMFADevice, ResyncMFADevice, DeactivateMFADevice, DeleteVirtualMFADevice,
//! ListMFADevices, ListVirtualMFADevices, GetMFADevice and the devices' tags; and the check of a
//! code that `GetSessionToken` and `AssumeRole` are given (`mfa_code`). What a code proves is
//! decided in `crate::mfa`, with no I/O.

use gatehouse_protocol::error::{ApiError, ErrorCode};
use gatehouse_protocol::iam::{
    AssignmentStatusType, CreateVirtualMFADeviceRequest, CreateVirtualMFADeviceResponse,
    DeactivateMFADeviceRequest, DeleteVirtualMFADeviceRequest, EnableMFADeviceRequest,
    GetMFADeviceRequest, GetMFADeviceResponse, ListMFADeviceTagsRequest, ListMFADeviceTagsResponse,
    ListMFADevicesRequest, ListMFADevicesResponse, ListVirtualMFADevicesRequest,
    ListVirtualMFADevicesResponse, MFADevice, ResyncMFADeviceRequest, TagMFADeviceRequest,
    UntagMFADeviceRequest, User, VirtualMFADevice,
};
use gatehouse_store::Txn;
use gatehouse_types::{SecretKey, Timestamp};

use crate::Principal;
use crate::authz::{Access, Authorized};
use crate::crypto::random;
use crate::errors::{Failure, Result, internal, limit_exceeded, randomness_unavailable};
use crate::iam::common::creating;
use crate::iam::credentials::resolve_owner;
use crate::iam::tagging::{TagTarget, tag_operations};
use crate::iam::users::{CredentialOwner, Subject, tags_shape, user_shape};
use crate::mfa::qr::QrCode;
use crate::mfa::{self, SEED_BYTES, totp};
use crate::model::entity::{self, Dependent, Entity, entity_fields};
use crate::model::pagination::PageRequest;
use crate::model::records::{
    MFA_DEVICE_NAMES, MFA_DEVICES, MfaAssignment, MfaDeviceRecord, ROOT_OWNER, Record,
    USER_MFA_DEVICES, UserRecord, key, prefix,
};
use crate::pipeline::{Call, Handler, Operation, operation};

/// AWS's quota of MFA devices per user.
pub const MAX_DEVICES_PER_USER: u64 = 8;

/// The issuer an authenticator app shows beside the device's name.
const ISSUER: &str = "Gatehouse";

/// Pixels per module of the QR code's PNG.
const QR_SCALE: usize = 4;

/// What AWS reports as the user name of the account's root user.
const ROOT_USER_NAME: &str = "<root_account>";

impl Entity for MfaDeviceRecord {
    const KIND: &'static str = "mfa";
    const NOUN: &'static str = "MFADevice";
    const TABLE: gatehouse_store::Table = MFA_DEVICES;
    const NAMES: gatehouse_store::Table = MFA_DEVICE_NAMES;
    const DEPENDENTS: &'static [Dependent] = &[];
    const TAG_QUOTA: (&'static str, usize) = ("TagsPerMFADevice", 50);
    const TAG_ACTION: &'static str = "iam:TagMFADevice";

    entity_fields!();

    fn already_exists(_name: &str) -> Failure {
        ApiError::new(
            ErrorCode::EntityAlreadyExists,
            "MFADevice entity at the same path and name already exists.",
        )
        .into()
    }
}

fn no_such_device(serial: &str) -> Failure {
    ApiError::new(
        ErrorCode::NoSuchEntity,
        format!("MFA Device with serial number {serial} does not exist."),
    )
    .into()
}

fn invalid_authentication_code() -> Failure {
    ApiError::new(
        ErrorCode::InvalidAuthenticationCode,
        "Authentication code for device is not valid.",
    )
    .into()
}

/// The device a serial number (its ARN) names in `account`.
fn by_serial(t: &mut dyn Txn, account: &str, serial: &str) -> Result<Option<MfaDeviceRecord>> {
    let own = format!("arn:aws:iam::{account}:mfa/");
    let Some(rest) = serial.strip_prefix(&own) else {
        return Ok(None);
    };
    let name = rest.rsplit('/').next().unwrap_or(rest);
    Ok(entity::by_name::<MfaDeviceRecord>(t, account, name)?.filter(|d| d.arn() == serial))
}

/// The device `serial` names in the caller's account, if it is enabled for `owner_id`.
fn enabled_for(
    call: &mut Call<'_>,
    owner_id: &str,
    serial: &str,
) -> Result<Option<MfaDeviceRecord>> {
    let account = call.account();
    Ok(by_serial(call.t, account, serial)?
        .filter(|d| d.assignment.as_ref().is_some_and(|a| a.owner == owner_id)))
}

/// The device `serial` names, enabled for `owner`; NoSuchEntity otherwise.
fn owned_device(
    call: &mut Call<'_>,
    owner: &CredentialOwner,
    serial: &str,
) -> Result<MfaDeviceRecord> {
    enabled_for(call, &owner.id, serial)?.ok_or_else(|| no_such_device(serial))
}

fn open_seed(call: &Call<'_>, device: &MfaDeviceRecord) -> Result<Vec<u8>> {
    let base32 = call.g.open_sealed(&device.sealed_seed, &device.id)?;
    totp::base32_decode(base32.expose()).ok_or_else(|| internal("a stored MFA seed is not Base32"))
}

/// Where two consecutive codes, newer than the step `after`, put the device's clock: how many
/// steps it runs ahead of ours, and the step of the second code (the last accepted);
/// InvalidAuthenticationCode unless they are two consecutive codes near our clock.
fn measure(
    call: &Call<'_>,
    device: &MfaDeviceRecord,
    code1: &str,
    code2: &str,
    after: i64,
) -> Result<(i64, i64)> {
    let seed = open_seed(call, device)?;
    let now = step_now(call);
    let step = mfa::find_consecutive(&seed, now, code1, code2)
        .filter(|step| *step > after)
        .ok_or_else(invalid_authentication_code)?;
    Ok((step + 1 - now, step + 1))
}

fn step_now(call: &Call<'_>) -> i64 {
    totp::step_at(call.cx.now.unix_seconds())
}

fn relation_key(account: &str, owner: &str, device: &str) -> String {
    key(account, &[owner, device])
}

/// The devices enabled for `owner`, in serial-number order.
fn devices_of(call: &mut Call<'_>, owner: &str) -> Result<Vec<MfaDeviceRecord>> {
    let account = call.account();
    let rows = call.t.scan(
        USER_MFA_DEVICES,
        &prefix(account, &[owner]),
        None,
        usize::MAX,
    )?;
    let mut devices = Vec::with_capacity(rows.len());
    for (row, _) in rows {
        let id = row.rsplit('/').next().unwrap_or_default();
        if let Some(device) = entity::by_id::<MfaDeviceRecord>(call.t, account, id)? {
            devices.push(device);
        }
    }
    devices.sort_by_key(|d| d.arn());
    Ok(devices)
}

operation!(CreateVirtualMFADevice, Iam, writes, CreateVirtualMFADeviceRequest => CreateVirtualMFADeviceResponse);
impl Handler for CreateVirtualMFADevice {
    type Target = Vec<(String, String)>;
    fn resolve(
        call: &mut Call<'_>,
        input: &CreateVirtualMFADeviceRequest,
    ) -> Result<(Self::Target, Access)> {
        creating::<MfaDeviceRecord>(
            call,
            input.path.as_deref().unwrap_or("/"),
            &input.virtual_mfa_device_name,
            input.tags.as_deref(),
            Self::ACTION,
        )
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        tags: Self::Target,
        input: &CreateVirtualMFADeviceRequest,
    ) -> Result<CreateVirtualMFADeviceResponse> {
        let seed = SecretKey::new(totp::base32(
            &random::<SEED_BYTES>().map_err(randomness_unavailable)?,
        ));
        let id: String = random::<16>()
            .map_err(randomness_unavailable)?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let device = MfaDeviceRecord {
            v: MfaDeviceRecord::VERSION,
            account: call.account().to_string(),
            sealed_seed: call.g.seal(call.t, &seed, &id)?,
            id,
            name: input.virtual_mfa_device_name.clone(),
            path: input.path.clone().unwrap_or_else(|| "/".to_string()),
            create_date: call.cx.now.unix_millis,
            assignment: None,
            tags,
        };
        entity::create(call.t, &device)?;
        let uri = mfa::key_uri(ISSUER, &device.name, &device.account, seed.expose());
        let qr = QrCode::encode(uri.as_bytes())
            .ok_or_else(|| internal("an otpauth URI does not fit a QR code"))?;
        Ok(CreateVirtualMFADeviceResponse {
            virtual_mfa_device: VirtualMFADevice {
                serial_number: device.arn(),
                base32_string_seed: Some(seed.expose().as_bytes().to_vec()),
                qr_code_png: Some(qr.to_png(QR_SCALE)),
                user: None,
                enable_date: None,
                tags: (!device.tags.is_empty()).then(|| tags_shape(&device.tags)),
            },
        })
    }
}

operation!(EnableMFADevice, Iam, writes, EnableMFADeviceRequest => ());
impl Handler for EnableMFADevice {
    type Target = Subject;
    fn resolve(call: &mut Call<'_>, input: &EnableMFADeviceRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, Some(&input.user_name), Self::ACTION)
    }
    /// Two consecutive codes near our clock enable the device and say how far its clock is off.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &EnableMFADeviceRequest,
    ) -> Result<()> {
        let owner = subject.owner()?;
        let account = call.account();
        let serial = &input.serial_number;
        let mut device =
            by_serial(call.t, account, serial)?.ok_or_else(|| no_such_device(serial))?;
        if device.assignment.is_some() {
            return Err(ApiError::new(
                ErrorCode::EntityAlreadyExists,
                "MFA Device is already in use.",
            )
            .into());
        }
        if call
            .t
            .count(USER_MFA_DEVICES, &prefix(account, &[&owner.id]))?
            >= MAX_DEVICES_PER_USER
        {
            return Err(limit_exceeded(format!(
                "Cannot exceed quota for MFADevicesPerUser: {MAX_DEVICES_PER_USER}"
            )));
        }
        let (drift_steps, last_step) = measure(
            call,
            &device,
            &input.authentication_code1,
            &input.authentication_code2,
            i64::MIN,
        )?;
        device.assignment = Some(MfaAssignment {
            owner: owner.id.clone(),
            enable_date: call.cx.now.unix_millis,
            drift_steps,
            last_step,
        });
        entity::save(call.t, &device)?;
        call.t.put(
            USER_MFA_DEVICES,
            &relation_key(account, &owner.id, &device.id),
            b"",
        )?;
        Ok(())
    }
}

operation!(ResyncMFADevice, Iam, writes, ResyncMFADeviceRequest => ());
impl Handler for ResyncMFADevice {
    type Target = Subject;
    fn resolve(call: &mut Call<'_>, input: &ResyncMFADeviceRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, Some(&input.user_name), Self::ACTION)
    }
    /// Two consecutive codes, newer than any accepted, measure the device's clock again.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &ResyncMFADeviceRequest,
    ) -> Result<()> {
        let owner = subject.owner()?;
        let mut device = owned_device(call, &owner, &input.serial_number)?;
        let after = device.assignment.as_ref().map_or(i64::MIN, |a| a.last_step);
        let (drift_steps, last_step) = measure(
            call,
            &device,
            &input.authentication_code1,
            &input.authentication_code2,
            after,
        )?;
        if let Some(assignment) = device.assignment.as_mut() {
            assignment.drift_steps = drift_steps;
            assignment.last_step = last_step;
        }
        entity::save(call.t, &device)
    }
}

operation!(DeactivateMFADevice, Iam, writes, DeactivateMFADeviceRequest => ());
impl Handler for DeactivateMFADevice {
    type Target = Subject;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeactivateMFADeviceRequest,
    ) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    /// The device is no longer the user's; a virtual one remains, unassigned, until deleted.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &DeactivateMFADeviceRequest,
    ) -> Result<()> {
        let owner = subject.owner()?;
        let mut device = owned_device(call, &owner, &input.serial_number)?;
        device.assignment = None;
        entity::save(call.t, &device)?;
        let account = call.account();
        call.t.delete(
            USER_MFA_DEVICES,
            &relation_key(account, &owner.id, &device.id),
        )?;
        Ok(())
    }
}

/// The device a call names by its serial number, with its tags for `aws:ResourceTag/*`.
pub(crate) struct BySerial(Option<MfaDeviceRecord>);

impl TagTarget for BySerial {
    type Entity = MfaDeviceRecord;
    fn find(call: &mut Call<'_>, serial: &str, action: &'static str) -> Result<(Self, Access)> {
        let account = call.account();
        let device = by_serial(call.t, account, serial)?;
        // A hardware device's serial number is no ARN: authorized as a device of that name.
        let arn = if serial.starts_with("arn:") {
            serial.to_string()
        } else {
            entity::arn_of::<MfaDeviceRecord>(account, "/", serial)
        };
        let access = Access::to(action, arn)
            .with_resource_tags(device.as_ref().map_or(&[][..], |d| d.tags()));
        Ok((BySerial(device), access))
    }
    fn existing(self, serial: &str) -> Result<MfaDeviceRecord> {
        self.0.ok_or_else(|| no_such_device(serial))
    }
}

operation!(DeleteVirtualMFADevice, Iam, writes, DeleteVirtualMFADeviceRequest => ());
impl Handler for DeleteVirtualMFADevice {
    type Target = BySerial;
    fn resolve(
        call: &mut Call<'_>,
        input: &DeleteVirtualMFADeviceRequest,
    ) -> Result<(BySerial, Access)> {
        BySerial::find(call, &input.serial_number, Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        target: BySerial,
        input: &DeleteVirtualMFADeviceRequest,
    ) -> Result<()> {
        let device = target.existing(&input.serial_number)?;
        if device.assignment.is_some() {
            return Err(
                ApiError::new(ErrorCode::DeleteConflict, "MFA Device is still in use.").into(),
            );
        }
        entity::delete(call.t, &device)
    }
}

fn owner_user_name(owner: &CredentialOwner) -> String {
    owner
        .user_name
        .clone()
        .unwrap_or_else(|| ROOT_USER_NAME.to_string())
}

operation!(ListMFADevices, Iam, reads, ListMFADevicesRequest => ListMFADevicesResponse);
impl Handler for ListMFADevices {
    type Target = Subject;
    fn resolve(call: &mut Call<'_>, input: &ListMFADevicesRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &ListMFADevicesRequest,
    ) -> Result<ListMFADevicesResponse> {
        let owner = subject.owner()?;
        let devices = devices_of(call, &owner.id)?;
        let page = PageRequest::new(input.marker.as_deref(), input.max_items)?
            .of_list(devices, |d| d.arn())?;
        Ok(ListMFADevicesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            mfa_devices: page
                .items
                .iter()
                .map(|d| MFADevice {
                    user_name: owner_user_name(&owner),
                    serial_number: d.arn(),
                    enable_date: Timestamp::from_unix_millis(
                        d.assignment
                            .as_ref()
                            .map_or(d.create_date, |a| a.enable_date),
                    ),
                })
                .collect(),
        })
    }
}

operation!(GetMFADevice, Iam, reads, GetMFADeviceRequest => GetMFADeviceResponse);
impl Handler for GetMFADevice {
    type Target = Subject;
    fn resolve(call: &mut Call<'_>, input: &GetMFADeviceRequest) -> Result<(Subject, Access)> {
        resolve_owner(call, input.user_name.as_deref(), Self::ACTION)
    }
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        subject: Subject,
        input: &GetMFADeviceRequest,
    ) -> Result<GetMFADeviceResponse> {
        let owner = subject.owner()?;
        let device = owned_device(call, &owner, &input.serial_number)?;
        Ok(GetMFADeviceResponse {
            user_name: Some(owner_user_name(&owner)),
            serial_number: device.arn(),
            enable_date: device
                .assignment
                .as_ref()
                .map(|a| Timestamp::from_unix_millis(a.enable_date)),
            certifications: None,
        })
    }
}

operation!(ListVirtualMFADevices, Iam, reads, ListVirtualMFADevicesRequest => ListVirtualMFADevicesResponse);
impl Handler for ListVirtualMFADevices {
    type Target = ();
    fn resolve(_: &mut Call<'_>, _: &ListVirtualMFADevicesRequest) -> Result<((), Access)> {
        Ok(((), Access::to(Self::ACTION, "*")))
    }
    /// The account's virtual devices in name order, never their seeds; an assigned one with
    /// its user.
    fn run(
        call: &mut Call<'_>,
        _: Authorized,
        (): (),
        input: &ListVirtualMFADevicesRequest,
    ) -> Result<ListVirtualMFADevicesResponse> {
        let wanted = |d: &MfaDeviceRecord| match input.assignment_status {
            Some(AssignmentStatusType::Assigned) => d.assignment.is_some(),
            Some(AssignmentStatusType::Unassigned) => d.assignment.is_none(),
            Some(AssignmentStatusType::Any) | None => true,
        };
        let account = call.account();
        let page = entity::list_where(
            call.t,
            account,
            PageRequest::new(input.marker.as_deref(), input.max_items)?,
            wanted,
        )?;
        let mut devices = Vec::with_capacity(page.items.len());
        for device in &page.items {
            let user = match &device.assignment {
                Some(a) => assigned_user(call, &a.owner)?,
                None => None,
            };
            devices.push(VirtualMFADevice {
                serial_number: device.arn(),
                base32_string_seed: None,
                qr_code_png: None,
                user,
                enable_date: device
                    .assignment
                    .as_ref()
                    .map(|a| Timestamp::from_unix_millis(a.enable_date)),
                tags: (!device.tags.is_empty()).then(|| tags_shape(&device.tags)),
            });
        }
        Ok(ListVirtualMFADevicesResponse {
            is_truncated: Some(page.is_truncated()),
            marker: page.next_marker,
            virtual_mfa_devices: devices,
        })
    }
}

/// The user a device is enabled for, as ListVirtualMFADevices shows it.
fn assigned_user(call: &mut Call<'_>, owner: &str) -> Result<Option<User>> {
    let account = call.account();
    if owner == ROOT_OWNER {
        return Ok(Some(User {
            path: "/".to_string(),
            user_name: ROOT_USER_NAME.to_string(),
            user_id: account.to_string(),
            arn: format!("arn:aws:iam::{account}:root"),
            create_date: Timestamp::from_unix_millis(0),
            password_last_used: None,
            permissions_boundary: None,
            tags: None,
        }));
    }
    Ok(entity::by_id::<UserRecord>(call.t, account, owner)?.map(|u| user_shape(&u, false)))
}

tag_operations!(
    BySerial, serial_number,
    TagMFADevice(TagMFADeviceRequest),
    UntagMFADevice(UntagMFADeviceRequest),
    ListMFADeviceTags(ListMFADeviceTagsRequest => ListMFADeviceTagsResponse)
);

/// A code given to `GetSessionToken` or `AssumeRole`, accepted for the caller's device: saved
/// by [`MfaCode::spend`] in the call's transaction, so it is never accepted again.
pub(crate) struct MfaCode {
    device: MfaDeviceRecord,
    step: i64,
}

/// AWS's refusal of a serial number that is not one of the caller's devices.
fn unable_to_validate() -> Failure {
    ApiError::new(
        ErrorCode::AccessDenied,
        // Two spaces after "code.", as AWS sends it.
        concat!(
            "MultiFactorAuthentication failed, unable to validate MFA code.  ",
            "Please verify your MFA serial number is valid and associated with this user."
        ),
    )
    .into()
}

/// Checks `SerialNumber` and `TokenCode` as STS does: the device must be enabled for the
/// caller (a user or the root user, whose long-term or `GetSessionToken` credentials sign),
/// and the code current and not used before. `None` when the call gives neither.
pub(crate) fn mfa_code(
    call: &mut Call<'_>,
    serial: Option<&str>,
    code: Option<&str>,
) -> Result<Option<MfaCode>> {
    let Some(serial) = serial else {
        return match code {
            None => Ok(None),
            Some(_) => Err(unable_to_validate()),
        };
    };
    let owner = match &call.cx.caller.principal {
        Principal::User(user) => user.id.clone(),
        Principal::Root => ROOT_OWNER.to_string(),
        Principal::AssumedRole(_) | Principal::FederatedUser(_) => {
            return Err(unable_to_validate());
        }
    };
    let device = enabled_for(call, &owner, serial)?.ok_or_else(unable_to_validate)?;
    let invalid = || {
        Failure::from(ApiError::new(
            ErrorCode::AccessDenied,
            "MultiFactorAuthentication failed with invalid MFA one time pass code.",
        ))
    };
    let code = code.ok_or_else(invalid)?;
    let seed = open_seed(call, &device)?;
    let assignment = device.assignment.as_ref().ok_or_else(unable_to_validate)?;
    let step = mfa::accept(&seed, step_now(call), assignment, code).ok_or_else(invalid)?;
    Ok(Some(MfaCode { device, step }))
}

impl MfaCode {
    /// Records the code as used; returns when MFA authenticated the call (now).
    pub(crate) fn spend(mut self, call: &mut Call<'_>) -> Result<Timestamp> {
        if let Some(assignment) = self.device.assignment.as_mut() {
            assignment.last_step = self.step;
        }
        entity::save(call.t, &self.device)?;
        Ok(call.cx.now)
    }
}

/// How many virtual devices an account holds, and how many are enabled (the account summary).
pub(crate) fn device_counts(t: &mut dyn Txn, account: &str) -> Result<(u64, u64, bool)> {
    let devices = t.count(MFA_DEVICES, &prefix(account, &[]))?;
    let in_use = t.count(USER_MFA_DEVICES, &prefix(account, &[]))?;
    let root = t.count(USER_MFA_DEVICES, &prefix(account, &[ROOT_OWNER]))? > 0;
    Ok((devices, in_use, root))
}

/// Whether a user has an MFA device enabled (the credential report's `mfa_active`).
pub(crate) fn has_device(t: &mut dyn Txn, account: &str, owner: &str) -> Result<bool> {
    Ok(!t
        .scan(USER_MFA_DEVICES, &prefix(account, &[owner]), None, 1)?
        .is_empty())
}

#[cfg(test)]
mod tests {
    use gatehouse_protocol::iam::{CreateUserRequest, IamApi};

    use super::*;
    use crate::test_support::{gatehouse_with_root, now, root_request, temp_store};

    #[test]
    fn an_enabled_device_and_its_owners_row_are_checked_both_ways() {
        const ACCOUNT: &str = "111122223333";
        let store = temp_store();
        let g = gatehouse_with_root(
            store.clone(),
            ACCOUNT,
            crate::MasterKey::generate().unwrap(),
        );
        let cx = root_request(ACCOUNT);
        g.create_user(
            &cx,
            CreateUserRequest {
                user_name: "alice".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let device = g
            .create_virtual_mfa_device(
                &cx,
                CreateVirtualMFADeviceRequest {
                    virtual_mfa_device_name: "phone".into(),
                    ..Default::default()
                },
            )
            .unwrap()
            .virtual_mfa_device;
        let seed =
            totp::base32_decode(std::str::from_utf8(&device.base32_string_seed.unwrap()).unwrap())
                .unwrap();
        let step = totp::step_at(now().unix_seconds());
        g.enable_mfa_device(
            &cx,
            EnableMFADeviceRequest {
                user_name: "alice".into(),
                serial_number: device.serial_number.clone(),
                authentication_code1: totp::code_for_step(&seed, step - 1),
                authentication_code2: totp::code_for_step(&seed, step),
            },
        )
        .unwrap();
        assert_eq!(g.check_consistency().unwrap(), Vec::<String>::new());

        // The owner's row gone: both directions report it.
        gatehouse_store::write(store.as_ref(), |t| {
            let rows = t.scan(USER_MFA_DEVICES, "", None, 10)?;
            assert_eq!(rows.len(), 1);
            t.delete(USER_MFA_DEVICES, &rows[0].0)?;
            t.put(USER_MFA_DEVICES, &format!("{ACCOUNT}/AIDANOBODY/x"), b"")?;
            Ok::<_, Failure>(())
        })
        .unwrap();
        let problems = g.check_consistency().unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("without its user_mfa_devices row"));
        assert!(problems[1].contains("names no device enabled"));
    }
}
