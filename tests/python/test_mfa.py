"""Virtual MFA end to end: a device created with its Base32 seed and a QR code that a real decoder
(`zbarimg`) reads, enabled with two consecutive codes computed by `pyotp`, listed, tagged,
deactivated and deleted; codes given to AssumeRole and GetSessionToken, accepted once, setting
`aws:MultiFactorAuthPresent`/`aws:MultiFactorAuthAge`; and the aws CLI's `mfa_serial` flow.

Codes are computed from the client's clock, which is the server's (one machine). A device is
enabled with the codes of the previous and the current 30-second step, as a person types them;
the code used afterwards is the next step's, which the server accepts as within one step of the
device's clock whichever side of a step boundary the calls fall.
"""

import base64
import datetime
import json
import shutil
import subprocess
import time

import pyotp
import pytest
from botocore.exceptions import ClientError

from conftest import cli_with_profile, unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


MFA_PRESENT = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def srv(server):
    return server


def seed_of(device):
    seed = device["Base32StringSeed"]
    return seed.decode() if isinstance(seed, bytes) else base64.b64decode(seed).decode()


def enabling_codes(seed):
    """The previous and the current step's codes."""
    totp, now = pyotp.TOTP(seed), time.time()
    return totp.at(now - 30), totp.at(now)


def next_code(seed):
    return pyotp.TOTP(seed).at(time.time() + 30)


def user_with_device(srv, *statements):
    """A user with an access key, an enabled virtual MFA device, and the given policy."""
    iam = srv.iam()
    name = unique("mfa-user")
    user = iam.create_user(UserName=name)["User"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("phone"))["VirtualMFADevice"]
    seed = seed_of(device)
    code1, code2 = enabling_codes(seed)
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"], AuthenticationCode1=code1,
                          AuthenticationCode2=code2)
    return user, key, device["SerialNumber"], seed


def test_a_device_comes_with_its_seed_and_a_qr_code_once(srv):
    iam = srv.iam()
    name = unique("phone")
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Path="/team/",
                                           Tags=[{"Key": "owner", "Value": "ops"}])["VirtualMFADevice"]
    serial = device["SerialNumber"]
    assert serial == f"arn:aws:iam::{srv.account_id}:mfa/team/{name}"
    seed = seed_of(device)
    assert len(seed) == 64 and set(seed) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    png = device["QRCodePNG"]
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert device["Tags"] == [{"Key": "owner", "Value": "ops"}]
    assert "User" not in device and "EnableDate" not in device

    # A real decoder reads the QR code: the otpauth URI an authenticator app takes.
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg (zbar-tools) is needed: scripts/test installs it"
    result = subprocess.run([zbarimg, "--quiet", "--raw", "-"], input=png, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    uri = result.stdout.decode().strip()
    assert uri == f"otpauth://totp/Gatehouse:{name}@{srv.account_id}?secret={seed}&issuer=Gatehouse"
    assert pyotp.parse_uri(uri).now() == pyotp.TOTP(seed).now()

    # Never shown again: listings carry neither seed nor picture.
    listed = iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]
    mine = [d for d in listed if d["SerialNumber"] == serial]
    assert len(mine) == 1 and "Base32StringSeed" not in mine[0] and "QRCodePNG" not in mine[0]
    assert serial not in [d["SerialNumber"] for d in
                          iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]]
    # The seed is sealed at rest.
    if (srv.data_dir / "gatehouse.db").exists():
        dump = srv.store_dump()
        assert not any(seed.encode() in value for value in dump.values())

    with pytest.raises(ClientError) as e:
        iam.create_virtual_mfa_device(VirtualMFADeviceName=name)
    assert error(e)[:2] == ("EntityAlreadyExists", 409)

    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["owner"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "env", "Value": "prod"}]
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    with pytest.raises(ClientError) as e:
        iam.list_mfa_device_tags(SerialNumber=serial)
    assert error(e)[:2] == ("NoSuchEntity", 404)


def test_enabling_takes_two_consecutive_codes_and_a_device_serves_one_user(srv):
    iam = srv.iam()
    name = unique("alice")
    iam.create_user(UserName=name)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("phone"))["VirtualMFADevice"]
    serial, seed = device["SerialNumber"], seed_of(device)
    totp, now = pyotp.TOTP(seed), time.time()
    for code1, code2 in [("123456", "654321"), (totp.at(now), totp.at(now - 30)), (totp.at(now - 30), totp.at(now + 30))]:
        with pytest.raises(ClientError) as e:
            iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1=code1,
                                  AuthenticationCode2=code2)
        assert error(e) == ("InvalidAuthenticationCode", 403, "Authentication code for device is not valid.")
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []

    before = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    code1, code2 = enabling_codes(seed)
    iam.enable_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2)
    [listed] = iam.list_mfa_devices(UserName=name)["MFADevices"]
    assert (listed["UserName"], listed["SerialNumber"]) == (name, serial)
    assert listed["EnableDate"] >= before
    got = iam.get_mfa_device(UserName=name, SerialNumber=serial)
    assert (got["UserName"], got["SerialNumber"], got["EnableDate"]) == (name, serial, listed["EnableDate"])
    [assigned] = [d for d in iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
                  if d["SerialNumber"] == serial]
    assert assigned["User"]["UserName"] == name and assigned["EnableDate"] == listed["EnableDate"]

    # Resynchronizing takes two consecutive codes newer than any accepted.
    totp = pyotp.TOTP(seed)
    with pytest.raises(ClientError) as e:
        iam.resync_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2)
    assert error(e)[:2] == ("InvalidAuthenticationCode", 403)
    now = time.time()
    iam.resync_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1=totp.at(now + 30),
                          AuthenticationCode2=totp.at(now + 60))

    # One device, one user; and the user cannot go while it is enabled.
    other = unique("bob")
    iam.create_user(UserName=other)
    with pytest.raises(ClientError) as e:
        iam.enable_mfa_device(UserName=other, SerialNumber=serial, AuthenticationCode1=code1, AuthenticationCode2=code2)
    assert error(e)[:2] == ("EntityAlreadyExists", 409)
    with pytest.raises(ClientError) as e:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(e)[:2] == ("DeleteConflict", 409)
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=name)
    assert error(e)[:2] == ("DeleteConflict", 409)
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["MFADevicesInUse"] >= 1 and summary["MFADevices"] >= summary["MFADevicesInUse"]
    assert summary["AccountMFAEnabled"] == 0  # the root user's MFA is not the users'
    iam.generate_credential_report()
    rows = iam.get_credential_report()["Content"].decode().splitlines()
    header = rows[0].split(",")
    report = {r.split(",")[0]: dict(zip(header, r.split(","))) for r in rows[1:]}
    assert (report[name]["mfa_active"], report[other]["mfa_active"]) == ("true", "false")
    with pytest.raises(ClientError) as e:
        iam.get_mfa_device(UserName=other, SerialNumber=serial)
    assert error(e)[:2] == ("NoSuchEntity", 404)

    # Deactivated, the device stays (unassigned) until deleted; then the user can go.
    iam.deactivate_mfa_device(UserName=name, SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []
    assert serial in [d["SerialNumber"] for d in
                      iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"]]
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as e:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(e)[:2] == ("NoSuchEntity", 404)


def test_at_most_eight_devices_per_user(srv):
    iam = srv.iam()
    name = unique("many")
    iam.create_user(UserName=name)
    for _ in range(8):
        device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("d"))["VirtualMFADevice"]
        code1, code2 = enabling_codes(seed_of(device))
        iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"], AuthenticationCode1=code1,
                              AuthenticationCode2=code2)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("d"))["VirtualMFADevice"]
    code1, code2 = enabling_codes(seed_of(device))
    with pytest.raises(ClientError) as e:
        iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"], AuthenticationCode1=code1,
                              AuthenticationCode2=code2)
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for MFADevicesPerUser: 8")
    page = iam.list_mfa_devices(UserName=name, MaxItems=5)
    assert page["IsTruncated"] and len(page["MFADevices"]) == 5
    rest = iam.list_mfa_devices(UserName=name, Marker=page["Marker"])["MFADevices"]
    assert len(rest) == 3
    # Filtered listings fill their pages with what the filter keeps, and page through all of it.
    mine = {d["SerialNumber"] for d in page["MFADevices"] + rest}
    assigned, marker = [], None
    while True:
        kwargs = {"Marker": marker} if marker else {}
        listed = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned", MaxItems=3, **kwargs)
        assert len(listed["VirtualMFADevices"]) == 3 or not listed["IsTruncated"]
        assigned += [d["SerialNumber"] for d in listed["VirtualMFADevices"]]
        if not listed["IsTruncated"]:
            break
        marker = listed["Marker"]
    assert mine <= set(assigned) and device["SerialNumber"] not in assigned


def test_a_role_that_requires_mfa_is_assumed_with_a_code_accepted_once(srv):
    iam = srv.iam()
    user, key, serial, seed = user_with_device(srv, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=unique("guarded"), AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": srv.account_id}, "Action": "sts:AssumeRole", "Condition": MFA_PRESENT}))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p", PolicyDocument=doc(
        allow("iam:ListUsers", Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})))
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])

    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="no-mfa")
    assert error(e)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bad", SerialNumber=serial,
                        TokenCode=pyotp.TOTP(seed).at(time.time() + 300))
    assert error(e) == ("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.")
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="other", SerialNumber=serial + "x",
                        TokenCode=next_code(seed))
    assert error(e) == ("AccessDenied", 403, "MultiFactorAuthentication failed, unable to validate MFA code.  "
                                             "Please verify your MFA serial number is valid and associated with this user.")

    code = next_code(seed)
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="with-mfa", SerialNumber=serial,
                            TokenCode=code)["Credentials"]
    role_session = srv.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"])
    assert user["UserName"] in [u["UserName"] for u in role_session.list_users()["Users"]]
    # The same code, a second time, is refused.
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="again", SerialNumber=serial, TokenCode=code)
    assert error(e) == ("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.")


def test_a_session_token_with_mfa_may_call_iam_and_carries_mfa_to_roles(srv):
    iam = srv.iam()
    user, key, serial, seed = user_with_device(
        srv, allow(["iam:GetUser", "sts:AssumeRole"], Condition=MFA_PRESENT))
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    # Long-term keys carry no MFA: the condition fails.
    with pytest.raises(ClientError) as e:
        srv.iam(key["AccessKeyId"], key["SecretAccessKey"]).get_user(UserName=user["UserName"])
    assert error(e)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        sts.get_session_token(SerialNumber=serial, TokenCode="000000" if next_code(seed) != "000000" else "111111")
    assert error(e) == ("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.")

    creds = sts.get_session_token(SerialNumber=serial, TokenCode=next_code(seed))["Credentials"]
    session_iam = srv.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"])
    assert session_iam.get_user(UserName=user["UserName"])["User"]["Arn"] == user["Arn"]

    # The MFA-authenticated session assumes a role that requires MFA without another code.
    role = iam.create_role(RoleName=unique("mfa-role"), AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole", "Condition": MFA_PRESENT}))["Role"]
    session_sts = srv.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"])
    assumed = session_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="carried")["AssumedRoleUser"]
    assert assumed["Arn"].endswith(f":assumed-role/{role['RoleName']}/carried")


def test_the_aws_cli_prompts_for_the_code_of_its_profiles_mfa_serial(srv, tmp_path):
    """The CLI's role_arn/source_profile/mfa_serial profile: it asks for the code, sends it with
    its AssumeRole (to Gatehouse: the profile sets endpoint_url), and runs as the role session."""
    iam = srv.iam()
    _, key, serial, seed = user_with_device(srv, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=unique("cli-mfa"), AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": srv.account_id}, "Action": "sts:AssumeRole", "Condition": MFA_PRESENT}))["Role"]
    # No terminal here: the CLI's prompt reads the code from standard input.
    result = cli_with_profile(srv, tmp_path, "guarded",
                              {"role_arn": role["Arn"], "mfa_serial": serial, "role_session_name": "cli-mfa"},
                              key, "sts", "get-caller-identity", stdin=next_code(seed) + "\n")
    assert result.returncode == 0, result.stderr
    assert f"Enter MFA code for {serial}" in result.stderr
    who = json.loads(result.stdout)
    assert who["Arn"] == f"arn:aws:sts::{srv.account_id}:assumed-role/{role['RoleName']}/cli-mfa"
