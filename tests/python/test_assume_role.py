"""`sts:AssumeRole` with AWS's rules: the trust policy decides with the caller's own policies
(within one account a trust policy naming the caller is enough, naming the account needs the
caller's identity policy too; across accounts both must allow), `sts:ExternalId`, durations and
the one-hour limit of role chaining, session policies that only narrow, the role's boundary,
AWS's id and ARN forms, and expiry.
"""

import datetime
import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION, cli_with_profile, unique
from test_accounts import create_account


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def trust(principal, **extra):
    return doc({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole", **extra})


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def srv(clocked_server):
    return clocked_server


def session(srv, creds, service="iam"):
    return srv.client(service, creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"])


def new_user(srv, *statements):
    iam = srv.iam()
    name = unique("caller")
    user = iam.create_user(UserName=name)["User"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=doc(*statements))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return user, key


def test_the_classic_script(srv):
    """Assume a role with boto3 and use the temporary credentials."""
    iam = srv.iam()
    user, key = new_user(srv, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=unique("app"), AssumeRolePolicyDocument=trust(f"arn:aws:iam::{srv.account_id}:root"),
                           MaxSessionDuration=7200)["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="list", PolicyDocument=doc(allow("iam:ListUsers")))

    sts = boto3.client("sts", endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=key["AccessKeyId"],
                       aws_secret_access_key=key["SecretAccessKey"], config=Config(retries={"total_max_attempts": 1}))
    before = datetime.datetime.now(datetime.timezone.utc)
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="build-42")
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert datetime.timedelta(minutes=59) < creds["Expiration"] - before <= datetime.timedelta(hours=1, seconds=5)
    assumed = resp["AssumedRoleUser"]
    assert assumed["Arn"] == f"arn:aws:sts::{srv.account_id}:assumed-role/{role['RoleName']}/build-42"
    assert assumed["AssumedRoleId"] == f"{role['RoleId']}:build-42"
    assert "PackedPolicySize" not in resp

    who = session(srv, creds, "sts").get_caller_identity()
    assert (who["Arn"], who["UserId"], who["Account"]) == (assumed["Arn"], assumed["AssumedRoleId"], srv.account_id)
    users = session(srv, creds).list_users()["Users"]
    assert user["UserName"] in [u["UserName"] for u in users]
    with pytest.raises(ClientError) as e:
        session(srv, creds).create_user(UserName=unique("nope"))
    code, status, message = error(e)
    assert (code, status) == ("AccessDenied", 403)
    assert message.startswith(f"User: {assumed['Arn']} is not authorized to perform: iam:CreateUser")
    # A role session cannot make long-term-credential tokens.
    with pytest.raises(ClientError) as e:
        session(srv, creds, "sts").get_session_token()
    assert error(e) == ("AccessDenied", 403, "Cannot call GetSessionToken with session credentials")

    # Longer than the default, within the role's MaxSessionDuration; beyond it, refused.
    long = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="long", DurationSeconds=7200)["Credentials"]
    assert long["Expiration"] - before > datetime.timedelta(hours=1, minutes=59)
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="longer", DurationSeconds=7201)
    assert error(e)[:2] == ("ValidationError", 400)
    assert "MaxSessionDuration" in error(e)[2]


def test_who_the_trust_policy_names_decides_what_else_must_allow(srv):
    iam = srv.iam()
    named, named_key = new_user(srv)  # no identity policy at all
    other, other_key = new_user(srv)
    role = iam.create_role(RoleName=unique("named"), AssumeRolePolicyDocument=trust(named["Arn"]))["Role"]
    # Within the account, a trust policy naming the user itself is enough.
    srv.sts(named_key["AccessKeyId"], named_key["SecretAccessKey"]).assume_role(RoleArn=role["Arn"], RoleSessionName="ss")
    with pytest.raises(ClientError) as e:
        srv.sts(other_key["AccessKeyId"], other_key["SecretAccessKey"]).assume_role(RoleArn=role["Arn"], RoleSessionName="ss")
    assert error(e) == ("AccessDenied", 403, f"User: {other['Arn']} is not authorized to perform: sts:AssumeRole "
                                             f"on resource: {role['Arn']}")
    # Naming the account needs the caller's identity policy to allow too.
    by_account = iam.create_role(RoleName=unique("acct"), AssumeRolePolicyDocument=trust(srv.account_id))["Role"]
    with pytest.raises(ClientError) as e:
        srv.sts(named_key["AccessKeyId"], named_key["SecretAccessKey"]).assume_role(
            RoleArn=by_account["Arn"], RoleSessionName="ss")
    assert error(e)[0] == "AccessDenied"
    iam.put_user_policy(UserName=named["UserName"], PolicyName="assume",
                        PolicyDocument=doc(allow("sts:AssumeRole", by_account["Arn"])))
    srv.sts(named_key["AccessKeyId"], named_key["SecretAccessKey"]).assume_role(RoleArn=by_account["Arn"], RoleSessionName="ss")
    # A role that does not exist is answered like one that does not trust the caller.
    missing = by_account["Arn"].replace(by_account["RoleName"], unique("missing"))
    with pytest.raises(ClientError) as e:
        srv.sts(named_key["AccessKeyId"], named_key["SecretAccessKey"]).assume_role(RoleArn=missing, RoleSessionName="ss")
    assert error(e)[:2] == ("AccessDenied", 403)


def test_a_role_in_another_account_with_an_external_id(srv):
    b_id, b_key, b_secret = create_account(srv)
    b = srv.iam(b_key, b_secret)
    role = b.create_role(RoleName=unique("partner"), AssumeRolePolicyDocument=trust(
        f"arn:aws:iam::{srv.account_id}:root", Condition={"StringEquals": {"sts:ExternalId": "Unique-42"}}))["Role"]
    b.put_role_policy(RoleName=role["RoleName"], PolicyName="read", PolicyDocument=doc(allow("iam:ListRoles")))
    caller, key = new_user(srv)
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    # The caller's own account must allow it as well.
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="xx", ExternalId="Unique-42")
    assert error(e)[0] == "AccessDenied"
    srv.iam().put_user_policy(UserName=caller["UserName"], PolicyName="assume",
                              PolicyDocument=doc(allow("sts:AssumeRole", role["Arn"])))
    for wrong in ({}, {"ExternalId": "unique-42"}, {"ExternalId": "Other"}):
        with pytest.raises(ClientError) as e:
            sts.assume_role(RoleArn=role["Arn"], RoleSessionName="xx", **wrong)
        assert error(e)[0] == "AccessDenied", wrong
    creds = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="xx", ExternalId="Unique-42")["Credentials"]
    who = session(srv, creds, "sts").get_caller_identity()
    assert who["Account"] == b_id and who["Arn"] == f"arn:aws:sts::{b_id}:assumed-role/{role['RoleName']}/xx"
    names = [r["RoleName"] for r in session(srv, creds).list_roles()["Roles"]]
    assert role["RoleName"] in names  # the roles of account B, not of the caller's account


def test_session_policies_and_the_boundary_only_narrow(srv):
    iam = srv.iam()
    _, key = new_user(srv, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=unique("narrow"), AssumeRolePolicyDocument=trust(srv.account_id))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="iam-read",
                        PolicyDocument=doc(allow(["iam:ListUsers", "iam:ListRoles", "iam:ListGroups"])))
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="narrow",
                           Policy=doc(allow(["iam:ListUsers", "iam:CreateUser"])))
    assert 0 < resp["PackedPolicySize"] <= 100
    narrowed = session(srv, resp["Credentials"])
    narrowed.list_users()
    for call in (narrowed.list_roles, lambda: narrowed.create_user(UserName=unique("no"))):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)[0] == "AccessDenied"

    # The role's boundary applies to its sessions.
    boundary = iam.create_policy(PolicyName=unique("b"), PolicyDocument=doc(allow("iam:ListGroups")))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=role["RoleName"], PermissionsBoundary=boundary)
    bounded = session(srv, sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bb")["Credentials"])
    bounded.list_groups()
    with pytest.raises(ClientError) as e:
        bounded.list_users()
    assert "permissions boundary" in error(e)[2]

    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=role["Arn"], RoleSessionName="big",
                        Policy=doc(*[allow(f"iam:Get{'x' * 40}{i}") for i in range(60)]))
    assert error(e)[0] in ("PackedPolicyTooLarge", "ValidationError")


def test_role_chaining_is_limited_to_an_hour(srv):
    iam = srv.iam()
    _, key = new_user(srv, allow("sts:AssumeRole"))
    first = iam.create_role(RoleName=unique("first"), AssumeRolePolicyDocument=trust(srv.account_id),
                            MaxSessionDuration=43200)["Role"]
    iam.put_role_policy(RoleName=first["RoleName"], PolicyName="assume", PolicyDocument=doc(allow("sts:AssumeRole")))
    second = iam.create_role(RoleName=unique("second"), AssumeRolePolicyDocument=trust(first["Arn"]),
                             MaxSessionDuration=43200)["Role"]
    creds = srv.sts(key["AccessKeyId"], key["SecretAccessKey"]).assume_role(
        RoleArn=first["Arn"], RoleSessionName="one", DurationSeconds=7200)["Credentials"]
    chained = session(srv, creds, "sts")
    with pytest.raises(ClientError) as e:
        chained.assume_role(RoleArn=second["Arn"], RoleSessionName="two", DurationSeconds=3601)
    assert error(e) == ("ValidationError", 400, "The requested DurationSeconds exceeds the 1 hour session limit "
                                                "for roles assumed by role chaining.")
    two = chained.assume_role(RoleArn=second["Arn"], RoleSessionName="two", DurationSeconds=3600)
    assert two["AssumedRoleUser"]["Arn"].endswith(f"assumed-role/{second['RoleName']}/two")
    # A GetSessionToken session assuming a role is not role chaining: no one-hour limit.
    token = srv.sts(key["AccessKeyId"], key["SecretAccessKey"]).get_session_token()["Credentials"]
    session(srv, token, "sts").assume_role(RoleArn=first["Arn"], RoleSessionName="from-token", DurationSeconds=7200)


def test_role_sessions_expire_and_end_with_their_role(srv):
    iam = srv.iam()
    _, key = new_user(srv, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=unique("brief"), AssumeRolePolicyDocument=trust(srv.account_id))["Role"]
    creds = srv.sts(key["AccessKeyId"], key["SecretAccessKey"]).assume_role(
        RoleArn=role["Arn"], RoleSessionName="brief", DurationSeconds=900)["Credentials"]
    sts = session(srv, creds, "sts")
    sts.get_caller_identity()
    srv.clock.write_text("901")
    try:
        with pytest.raises(ClientError) as e:
            sts.get_caller_identity()
        assert error(e) == ("ExpiredToken", 403, "The security token included in the request is expired")
    finally:
        srv.clock.write_text("0")
    sts.get_caller_identity()
    iam.delete_role(RoleName=role["RoleName"])
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert error(e)[:2] == ("InvalidClientTokenId", 403)


def test_sessions_issued_before_a_moment_are_revoked_as_the_console_does(srv):
    """The console's "Revoke active sessions" puts this deny on the role (AWSRevokeOlderSessions):
    sessions issued before the moment are refused, later ones are not."""
    import time

    iam = srv.iam()
    _, key = new_user(srv, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=unique("revoked"), AssumeRolePolicyDocument=trust(srv.account_id))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="read", PolicyDocument=doc(allow("iam:ListRoles")))
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    old = session(srv, sts.assume_role(RoleArn=role["Arn"], RoleSessionName="old")["Credentials"])
    old.list_roles()
    time.sleep(1.1)
    moment = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    time.sleep(1.1)
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="AWSRevokeOlderSessions", PolicyDocument=doc(
        {"Effect": "Deny", "Action": ["*"], "Resource": ["*"],
         "Condition": {"DateLessThan": {"aws:TokenIssueTime": moment}}}))
    with pytest.raises(ClientError) as e:
        old.list_roles()
    assert error(e)[0] == "AccessDenied" and "explicit deny" in error(e)[2]
    new = session(srv, sts.assume_role(RoleArn=role["Arn"], RoleSessionName="new")["Credentials"])
    new.list_roles()


def test_the_aws_cli_assumes_a_role_from_its_profile(srv, tmp_path):
    """The CLI's own role_arn/source_profile flow: the profile sets endpoint_url, so the CLI's
    AssumeRole goes to Gatehouse, and the command runs as the role session."""
    iam = srv.iam()
    _, key = new_user(srv, allow("sts:AssumeRole"))
    role = iam.create_role(RoleName=unique("cli"), AssumeRolePolicyDocument=trust(srv.account_id))["Role"]
    result = cli_with_profile(srv, tmp_path, "deploy", {"role_arn": role["Arn"], "role_session_name": "cli-session"},
                              key, "sts", "get-caller-identity")
    assert result.returncode == 0, result.stderr
    who = json.loads(result.stdout)
    assert who["Arn"] == f"arn:aws:sts::{srv.account_id}:assumed-role/{role['RoleName']}/cli-session"


def test_session_tags_and_source_identity(srv):
    """Tags and SourceIdentity need sts:TagSession and sts:SetSourceIdentity in the trust policy;
    session tags stand as aws:PrincipalTag over the role's own; transitive tags and the source
    identity pass on through role chaining and cannot be changed there."""
    iam = srv.iam()
    _, key = new_user(srv, allow(["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]))
    strict = iam.create_role(RoleName=unique("strict"), AssumeRolePolicyDocument=trust(srv.account_id))["Role"]
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=strict["Arn"], RoleSessionName="tagged", Tags=[{"Key": "team", "Value": "blue"}])
    assert error(e)[0] == "AccessDenied" and "sts:TagSession" in error(e)[2]
    with pytest.raises(ClientError) as e:
        sts.assume_role(RoleArn=strict["Arn"], RoleSessionName="src", SourceIdentity="alice")
    assert error(e)[0] == "AccessDenied" and "sts:SetSourceIdentity" in error(e)[2]

    everything = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    role = iam.create_role(RoleName=unique("tagged"), Tags=[{"Key": "team", "Value": "red"}],
                           AssumeRolePolicyDocument=doc({"Effect": "Allow", "Principal": {"AWS": srv.account_id},
                                                         "Action": everything}))["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="by-tag", PolicyDocument=doc(
        allow("iam:ListUsers", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}),
        allow("iam:ListRoles", Condition={"StringEquals": {"aws:SourceIdentity": "alice"}}),
        allow("sts:*")))
    resp = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="tagged", SourceIdentity="alice",
                           Tags=[{"Key": "team", "Value": "blue"}, {"Key": "project", "Value": "x"}],
                           TransitiveTagKeys=["team"])
    assert resp["SourceIdentity"] == "alice" and 0 < resp["PackedPolicySize"] <= 100
    tagged = session(srv, resp["Credentials"])
    tagged.list_users()  # the session's team=blue over the role's team=red
    tagged.list_roles()  # aws:SourceIdentity
    untagged = session(srv, sts.assume_role(RoleArn=role["Arn"], RoleSessionName="plain")["Credentials"])
    for call in (untagged.list_users, untagged.list_roles):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e)[0] == "AccessDenied"

    # Role chaining: the transitive tag and the source identity come along; neither changes.
    chained_sts = session(srv, resp["Credentials"], "sts")
    with pytest.raises(ClientError) as e:
        chained_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="again", Tags=[{"Key": "team", "Value": "red"}])
    assert error(e)[0] == "ValidationError"
    with pytest.raises(ClientError) as e:
        chained_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="again", SourceIdentity="mallory")
    assert error(e)[0] == "AccessDenied"
    again = chained_sts.assume_role(RoleArn=role["Arn"], RoleSessionName="again")
    assert again["SourceIdentity"] == "alice"
    chained = session(srv, again["Credentials"])
    chained.list_users()
    chained.list_roles()
