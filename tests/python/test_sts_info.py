"""`sts:DecodeAuthorizationMessage` with the option that makes denials carry an encoded
authorization failure message (AWS's IAM and STS denials carry none, so it is off by default),
and `sts:GetAccessKeyInfo`.
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import new_server, random_account_id, unique
from test_accounts import create_account

SUFFIX = " Encoded authorization failure message: "


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = new_server(tmp_path_factory, "encoded", account_id=random_account_id(),
                   extra_env={"GATEHOUSE_ENCODE_AUTHORIZATION_MESSAGES": "true"}).start()
    yield s
    assert s.stop() == 0, s.stderr()


def user(srv, *statements):
    iam = srv.iam()
    name = unique("u")
    arn = iam.create_user(UserName=name)["User"]["Arn"]
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": list(statements)}))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return arn, key


def denied(call):
    with pytest.raises(ClientError) as e:
        call()
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDenied"
    return err["Message"]


def test_denials_carry_a_message_only_allowed_callers_decode(srv):
    arn, key = user(srv, {"Sid": "NoDeletes", "Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"})
    caller = srv.iam(key["AccessKeyId"], key["SecretAccessKey"])
    message = denied(caller.list_users)
    assert message.startswith(f"User: {arn} is not authorized to perform: iam:ListUsers on resource: ")
    assert SUFFIX in message
    implicit = message.split(SUFFIX, 1)[1]
    explicit = denied(lambda: caller.delete_user(UserName="anyone")).split(SUFFIX, 1)[1]

    reader_arn, reader_key = user(srv, {"Effect": "Allow", "Action": "sts:DecodeAuthorizationMessage",
                                        "Resource": "*"})
    sts = srv.sts(reader_key["AccessKeyId"], reader_key["SecretAccessKey"])
    decoded = json.loads(sts.decode_authorization_message(EncodedMessage=implicit)["DecodedMessage"])
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["context"]["principal"]["arn"] == arn
    assert decoded["context"]["action"] == "iam:ListUsers"
    decoded = json.loads(sts.decode_authorization_message(EncodedMessage=explicit)["DecodedMessage"])
    assert decoded["explicitDeny"] is True
    assert [s["statementId"] for s in decoded["matchedStatements"]["items"]] == ["NoDeletes"]

    # Only callers allowed the action decode; a message not made here is refused.
    assert "sts:DecodeAuthorizationMessage" in denied(
        lambda: srv.sts(key["AccessKeyId"], key["SecretAccessKey"]).decode_authorization_message(
            EncodedMessage=implicit))
    for forged in (implicit[:-2] + ("00" if not implicit.endswith("00") else "11"), "not-a-message"):
        with pytest.raises(ClientError) as e:
            sts.decode_authorization_message(EncodedMessage=forged)
        assert e.value.response["Error"]["Code"] == "InvalidAuthorizationMessageException"


def test_get_access_key_info_names_the_keys_account(srv):
    _, key = user(srv, {"Effect": "Allow", "Action": ["sts:GetAccessKeyInfo", "sts:AssumeRole"], "Resource": "*"})
    sts = srv.sts(key["AccessKeyId"], key["SecretAccessKey"])
    assert sts.get_access_key_info(AccessKeyId=key["AccessKeyId"])["Account"] == srv.account_id
    other_account, other_key, _ = create_account(srv)
    assert sts.get_access_key_info(AccessKeyId=other_key)["Account"] == other_account
    session = srv.sts().get_session_token()["Credentials"]["AccessKeyId"]
    assert sts.get_access_key_info(AccessKeyId=session)["Account"] == srv.account_id
    with pytest.raises(ClientError) as e:
        sts.get_access_key_info(AccessKeyId="AKIAIOSFODNN7EXAMPLE")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    _, no_permission = user(srv)
    assert "sts:GetAccessKeyInfo" in denied(lambda: srv.sts(
        no_permission["AccessKeyId"], no_permission["SecretAccessKey"]).get_access_key_info(
        AccessKeyId=key["AccessKeyId"]))
