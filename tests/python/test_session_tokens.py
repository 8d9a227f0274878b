"""Temporary credentials from `sts:GetSessionToken`: `ASIA…` keys whose requests must carry
their own session token, with AWS's durations and rules (no IAM call without MFA, no STS call
but AssumeRole and GetCallerIdentity), expiring on time with `ExpiredToken` (a test clock
moves only the expiry checks ahead), surviving a restart, and never stored in the clear.
"""

import datetime
import json
import os

import pytest
from botocore.exceptions import ClientError

from conftest import unique


@pytest.fixture(scope="module")
def srv(clocked_server):
    return clocked_server


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def session_client(srv, service, creds, token=None):
    return srv.client(service, creds["AccessKeyId"], creds["SecretAccessKey"],
                      session_token=creds["SessionToken"] if token is None else token)


@pytest.fixture(scope="module")
def user(srv):
    iam = srv.iam()
    name = unique("temp")
    created = iam.create_user(UserName=name)["User"]
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return created, key


def test_a_user_session_is_the_user_within_awss_limits(srv, user):
    record, key = user
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    before = datetime.datetime.now(datetime.timezone.utc)
    creds = sts.get_session_token()["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40 and len(creds["SessionToken"]) >= 100
    lifetime = creds["Expiration"] - before
    assert datetime.timedelta(hours=11, minutes=59) < lifetime <= datetime.timedelta(hours=12, seconds=5)
    short = sts.get_session_token(DurationSeconds=900)["Credentials"]
    assert short["Expiration"] - before <= datetime.timedelta(seconds=905)

    who = session_client(srv, "sts", creds).get_caller_identity()
    assert (who["Arn"], who["UserId"], who["Account"]) == (record["Arn"], record["UserId"], srv.account_id)

    # AWS: no IAM call without MFA, whatever the policies allow; no STS call but AssumeRole
    # and GetCallerIdentity.
    with pytest.raises(ClientError) as e:
        session_client(srv, "iam", creds).list_users()
    assert error(e)[:2] == ("InvalidClientTokenId", 403)
    with pytest.raises(ClientError) as e:
        session_client(srv, "sts", creds).get_session_token()
    assert error(e) == ("AccessDenied", 403, "Cannot call GetSessionToken with session credentials")

    for duration in (899, 129601):  # botocore refuses these itself: sent raw
        req = srv.signed_request(f"Action=GetSessionToken&Version=2011-06-15&DurationSeconds={duration}",
                                 service="sts", key_id=key["AccessKeyId"], secret=key["SecretAccessKey"])
        resp = srv.send(req)
        assert (resp.status, resp.error()["Code"]) == (400, "ValidationError"), resp.body
    with pytest.raises(ClientError) as e:
        sts.get_session_token(SerialNumber=f"arn:aws:iam::{srv.account_id}:mfa/none", TokenCode="123456")
    assert error(e)[0] == "AccessDenied"


def test_the_root_users_session_lasts_an_hour_at_most(srv):
    before = datetime.datetime.now(datetime.timezone.utc)
    creds = srv.sts().get_session_token(DurationSeconds=7200)["Credentials"]
    assert creds["Expiration"] - before <= datetime.timedelta(hours=1, seconds=5)
    who = session_client(srv, "sts", creds).get_caller_identity()
    assert who["Arn"] == f"arn:aws:iam::{srv.account_id}:root"


def test_a_missing_altered_truncated_or_foreign_token_is_refused(srv, user):
    _, key = user
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    creds = sts.get_session_token()["Credentials"]
    other = sts.get_session_token()["Credentials"]
    token = creds["SessionToken"]
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (altered, token[:-8], other["SessionToken"]):
        with pytest.raises(ClientError) as e:
            session_client(srv, "sts", creds, token=bad).get_caller_identity()
        assert error(e) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    missing = srv.client("sts", creds["AccessKeyId"], creds["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        missing.get_caller_identity()
    assert error(e)[:2] == ("InvalidClientTokenId", 403)
    # A long-term key with some session token is refused too.
    with pytest.raises(ClientError) as e:
        srv.client("sts", key["AccessKeyId"], key["SecretAccessKey"], session_token=token).get_caller_identity()
    assert error(e)[:2] == ("InvalidClientTokenId", 403)


def test_sessions_expire_on_time_and_survive_a_restart(srv, user):
    _, key = user
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    creds = sts.get_session_token(DurationSeconds=900)["Credentials"]
    session = session_client(srv, "sts", creds)
    srv.clock.write_text("880")  # 20 s before expiry
    session.get_caller_identity()
    srv.clock.write_text("901")
    with pytest.raises(ClientError) as e:
        session.get_caller_identity()
    assert error(e) == ("ExpiredToken", 403, "The security token included in the request is expired")
    srv.clock.write_text("0")

    # Stored, not held in memory: a restart keeps them; their secret and token are not stored
    # in the clear.
    assert srv.stop() == 0, srv.stderr()
    if os.environ.get("GATEHOUSE_E2E_STORE") != "postgres":  # the dump reads the SQLite file
        dump = b"".join(srv.store_dump().values())
        assert creds["SecretAccessKey"].encode() not in dump and creds["SessionToken"].encode() not in dump
    srv.start()
    session_client(srv, "sts", creds).get_caller_identity()


def test_a_session_ends_with_its_user(srv):
    iam = srv.iam()
    name = unique("gone")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    creds = srv.sts(key["AccessKeyId"], key["SecretAccessKey"]).get_session_token()["Credentials"]
    session_client(srv, "sts", creds).get_caller_identity()
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as e:
        session_client(srv, "sts", creds).get_caller_identity()
    assert error(e)[:2] == ("InvalidClientTokenId", 403)


def test_the_aws_cli_uses_a_session_from_a_credentials_file(srv, user, tmp_path):
    _, key = user
    out = srv.cli("sts", "get-session-token", "--duration-seconds", "900",
                  key_id=key["AccessKeyId"], secret=key["SecretAccessKey"])
    creds = out["Credentials"]
    credentials = tmp_path / "credentials"
    credentials.write_text("[default]\n"
                           f"aws_access_key_id = {creds['AccessKeyId']}\n"
                           f"aws_secret_access_key = {creds['SecretAccessKey']}\n"
                           f"aws_session_token = {creds['SessionToken']}\n")
    who = srv.cli("sts", "get-caller-identity", credentials_file=credentials)
    assert who["Arn"] == user[0]["Arn"]


def test_a_federated_user_has_the_intersection_of_its_maker_and_its_session_policy(srv):
    iam = srv.iam()
    name = unique("broker")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:GetFederationToken", "iam:ListUsers", "iam:ListRoles"],
             "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    session_policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iam:ListUsers", "iam:ListGroups"], "Resource": "*"}]})
    resp = sts.get_federation_token(Name="bob-app", Policy=session_policy, DurationSeconds=900)
    fed = resp["FederatedUser"]
    assert fed == {"FederatedUserId": f"{srv.account_id}:bob-app",
                   "Arn": f"arn:aws:sts::{srv.account_id}:federated-user/bob-app"}
    assert 0 < resp["PackedPolicySize"] <= 100
    creds = resp["Credentials"]
    who = session_client(srv, "sts", creds).get_caller_identity()
    assert (who["Arn"], who["UserId"]) == (fed["Arn"], fed["FederatedUserId"])
    # AWS: a federated user's session calls no IAM operation and no STS operation but
    # GetCallerIdentity; its permissions elsewhere are the maker's within the session policy.
    with pytest.raises(ClientError) as e:
        session_client(srv, "iam", creds).list_users()
    assert error(e)[:2] == ("InvalidClientTokenId", 403)
    with pytest.raises(ClientError) as e:
        session_client(srv, "sts", creds).get_federation_token(Name="again")
    assert error(e) == ("AccessDenied", 403, "Cannot call GetFederationToken with session credentials")
    # The permission to ask for it is checked on the federated user's ARN.
    other = unique("nobody")
    iam.create_user(UserName=other)
    other_key = iam.create_access_key(UserName=other)["AccessKey"]
    with pytest.raises(ClientError) as e:
        srv.sts(other_key["AccessKeyId"], other_key["SecretAccessKey"]).get_federation_token(Name="nope")
    assert error(e)[0] == "AccessDenied"
    assert f"sts:GetFederationToken on resource: arn:aws:sts::{srv.account_id}:federated-user/nope" in error(e)[2]


def test_a_federated_users_session_tags_need_tag_session(srv):
    """`Tags` on GetFederationToken: allowed by sts:TagSession on the federated user (with the tags
    as aws:RequestTag/* and aws:TagKeys), and counted in PackedPolicySize."""
    iam = srv.iam()
    name = unique("tagger")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:GetFederationToken", "Resource": "*"}]}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    policy = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})
    tags = [{"Key": "team", "Value": "blue"}, {"Key": "project", "Value": "x" * 200}]
    with pytest.raises(ClientError) as e:
        sts.get_federation_token(Name="tagged", Policy=policy, Tags=tags)
    assert error(e)[0] == "AccessDenied" and "sts:TagSession" in error(e)[2]
    iam.put_user_policy(UserName=name, PolicyName="tag", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:TagSession", "Resource": "*",
                                                "Condition": {"StringEquals": {"aws:RequestTag/team": "blue"}}}]}))
    with pytest.raises(ClientError) as e:
        sts.get_federation_token(Name="tagged", Policy=policy, Tags=[{"Key": "team", "Value": "red"}])
    assert error(e)[0] == "AccessDenied"
    untagged = sts.get_federation_token(Name="plain", Policy=policy)["PackedPolicySize"]
    tagged = sts.get_federation_token(Name="tagged", Policy=policy, Tags=tags)
    assert tagged["PackedPolicySize"] > untagged
    who = session_client(srv, "sts", tagged["Credentials"]).get_caller_identity()
    assert who["Arn"] == f"arn:aws:sts::{srv.account_id}:federated-user/tagged"
    with pytest.raises(ClientError) as e:
        sts.get_federation_token(Name="bad", Policy=policy, Tags=[{"Key": "aws:team", "Value": "x"}])
    assert error(e)[:2] == ("ValidationError", 400)
