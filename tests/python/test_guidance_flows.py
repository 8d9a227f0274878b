"""Flows from AWS's own IAM guidance, enforced on real requests: a policy that denies every call
from outside a CIDR (the test sends from a second loopback address), a per-user resource with
${aws:username}, and an explicit deny of deletes that overrides an allow.
"""

import json
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def user_with_key(server, prefix, policy):
    iam = server.iam()
    user = iam.create_user(UserName=unique(prefix))["User"]
    iam.put_user_policy(UserName=user["UserName"], PolicyName="p", PolicyDocument=policy)
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    return user, key


def test_calls_from_outside_a_cidr_are_denied(server):
    """AWS's example "Denies access to AWS based on the source IP"."""
    _, key = user_with_key(server, "cidr", doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"NotIpAddress": {"aws:SourceIp": ["127.0.0.1/32"]}}}))
    body = urlencode({"Action": "ListUsers", "Version": "2010-05-08"})

    inside = server.send(server.signed_request(body, key_id=key["AccessKeyId"], secret=key["SecretAccessKey"]),
                         source_address="127.0.0.1")
    assert inside.status == 200, inside.text
    outside = server.send(server.signed_request(body, key_id=key["AccessKeyId"], secret=key["SecretAccessKey"]),
                          source_address="127.0.0.2")
    assert outside.status == 403
    err = outside.error()
    assert err["Code"] == "AccessDenied"
    assert "with an explicit deny in an identity-based policy" in err["Message"]


def test_a_per_user_resource_with_the_username_variable(server):
    """AWS's example: users manage their own access keys and nobody else's."""
    policy = doc({"Effect": "Allow", "Action": ["iam:CreateAccessKey", "iam:ListAccessKeys", "iam:DeleteAccessKey"],
                  "Resource": "arn:aws:iam::*:user/${aws:username}"})
    me, key = user_with_key(server, "self", policy)
    other, _ = user_with_key(server, "other", policy)
    as_me = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    made = as_me.create_access_key(UserName=me["UserName"])["AccessKey"]
    assert len(as_me.list_access_keys(UserName=me["UserName"])["AccessKeyMetadata"]) == 2
    as_me.delete_access_key(UserName=me["UserName"], AccessKeyId=made["AccessKeyId"])
    with pytest.raises(ClientError) as e:
        as_me.create_access_key(UserName=other["UserName"])
    code, status, message = error(e)
    assert (code, status) == ("AccessDenied", 403)
    assert f"on resource: {other['Arn']}" in message
    assert len(server.iam().list_access_keys(UserName=other["UserName"])["AccessKeyMetadata"]) == 1


def test_an_explicit_deny_of_deletes_overrides_an_allow(server):
    _, key = user_with_key(server, "nodelete", doc(
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "iam:Delete*", "Resource": "*"}))
    as_user = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    victim = as_user.create_user(UserName=unique("victim"))["User"]
    with pytest.raises(ClientError) as e:
        as_user.delete_user(UserName=victim["UserName"])
    code, status, message = error(e)
    assert (code, status) == ("AccessDenied", 403)
    assert message == (f"User: {as_user_arn(server, key)} is not authorized to perform: iam:DeleteUser on "
                       f"resource: {victim['Arn']} with an explicit deny in an identity-based policy")
    assert server.iam().get_user(UserName=victim["UserName"])["User"]["UserId"] == victim["UserId"]


def as_user_arn(server, key):
    return server.sts(key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()["Arn"]
