"""A sweep over every implemented operation, signed as a user with no policies at all: each one
answers AccessDenied in AWS's words, except the few AWS lets anyone call (declared in EXEMPT),
and nothing in the store changes.

The operations come from docs/compatibility.md (as in test_all_operations.py) and each gets a
minimal valid input from botocore's model (model_inputs.py), so a new implemented operation
joins the sweep without anyone editing this file.
"""

import re

import botocore
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from model_inputs import minimal_input
from test_all_operations import IMPLEMENTED, MODELS

# Operations a caller without any permission may still call, and why.
EXEMPT = {
    "GetCallerIdentity": "AWS: no permission is needed; a Deny has no effect",
    "GetSessionToken": "AWS: no permission is needed; a Deny has no effect",
    "AssumeRoleWithSAML": "unsigned, trust policy only",
    "AssumeRoleWithWebIdentity": "unsigned, trust policy only",
}
UNSIGNED_OPERATIONS = {"AssumeRoleWithSAML", "AssumeRoleWithWebIdentity"}

SWEEP = sorted((svc, op) for svc, ops in IMPLEMENTED.items() for op in ops)
GUARDED = [(svc, op) for svc, op in SWEEP if op not in EXEMPT]
OPEN = [(svc, op) for svc, op in SWEEP if op in EXEMPT]

NOBODY = "nobody"


@pytest.fixture(scope="module")
def nobody(server):
    """User `nobody` at path /, with one access key and no policies; plus a snapshot of the
    store's users and of nobody's keys taken before the sweep."""
    iam = server.iam()
    user = iam.create_user(UserName=NOBODY, Path="/")["User"]
    key = iam.create_access_key(UserName=NOBODY)["AccessKey"]
    assert iam.list_user_policies(UserName=NOBODY)["PolicyNames"] == []
    keys = iam.list_access_keys(UserName=NOBODY)["AccessKeyMetadata"]
    return {"user": user, "key": key, "keys_before": keys, "clients": {}}


def client_as_nobody(server, nobody, service, unsigned=False):
    cache = nobody["clients"]
    if (service, unsigned) not in cache:
        if unsigned:
            cache[(service, unsigned)] = server.client(service, signature_version=UNSIGNED)
        else:
            cache[(service, unsigned)] = server.client(service, nobody["key"]["AccessKeyId"],
                                                       nobody["key"]["SecretAccessKey"])
    return cache[(service, unsigned)]


def call(server, nobody, service, operation):
    model = MODELS[service].operation_model(operation)
    client = client_as_nobody(server, nobody, service, unsigned=operation in UNSIGNED_OPERATIONS)
    return getattr(client, botocore.xform_name(operation))(**minimal_input(model))


def test_sweep_is_not_empty():
    assert len(GUARDED) >= 20, GUARDED
    assert ("sts", "GetCallerIdentity") in OPEN


@pytest.mark.parametrize("service,operation", GUARDED, ids=[f"{s}:{o}" for s, o in GUARDED])
def test_user_without_policies_is_denied(server, nobody, service, operation):
    with pytest.raises(ClientError) as e:
        call(server, nobody, service, operation)
    resp = e.value.response
    err, status = resp["Error"], resp["ResponseMetadata"]["HTTPStatusCode"]
    assert (err.get("Code"), status) == ("AccessDenied", 403), (
        f"{operation} as a user with no policies: expected AccessDenied/403, got {err.get('Code')}/{status}: "
        f"{err.get('Message')}")
    action = f"{service}:{operation}"
    # AWS names no policy type when a role's trust policy takes part (AssumeRole).
    reason = "" if action == "sts:AssumeRole" else f" because no identity-based policy allows the {action} action"
    pattern = (re.escape(f"User: {nobody['user']['Arn']} is not authorized to perform: {action} on resource: ")
               + r"(\S+)"
               + re.escape(reason))
    m = re.fullmatch(pattern, err["Message"])
    assert m, f"{operation}: message not in AWS's form: {err['Message']!r}"
    # The resource is `*` or an ARN; its account is the one named in the input where the input
    # names a principal (model_inputs uses 000000000000), else this server's.
    assert re.fullmatch(r"\*|arn:aws:(iam|sts)::\d{12}:\S+", m.group(1)), m.group(1)


@pytest.mark.parametrize("service,operation", OPEN, ids=[f"{s}:{o}" for s, o in OPEN])
def test_exempt_operation_is_not_denied(server, nobody, service, operation):
    """`EXEMPT[operation]` says why: these never answer AccessDenied for lack of a policy."""
    try:
        response = call(server, nobody, service, operation)
    except ClientError as e:
        err = e.response["Error"]
        assert err.get("Code") != "AccessDenied", f"{operation} is exempt ({EXEMPT[operation]}): {err}"
        if operation == "GetCallerIdentity":
            pytest.fail(f"GetCallerIdentity must succeed for any valid key: {err}")
        return
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    if operation == "GetCallerIdentity":
        assert response["Arn"] == nobody["user"]["Arn"]
        assert response["Account"] == server.account_id


def test_sweep_changed_nothing(server, nobody):
    """Runs after the sweep (pytest keeps file order): the denied calls wrote nothing."""
    iam = server.iam()
    users = iam.list_users()["Users"]
    assert [u["UserName"] for u in users] == [NOBODY], users
    keys = iam.list_access_keys(UserName=NOBODY)["AccessKeyMetadata"]
    strip = lambda ks: sorted((k["AccessKeyId"], k["Status"], k["CreateDate"]) for k in ks)  # noqa: E731
    assert strip(keys) == strip(nobody["keys_before"])
    assert iam.list_user_policies(UserName=NOBODY)["PolicyNames"] == []
    assert iam.list_user_tags(UserName=NOBODY)["Tags"] == []
    assert iam.get_user(UserName=NOBODY)["User"]["Path"] == "/"
    # nobody's key still works, and nobody is still nobody.
    ident = client_as_nobody(server, nobody, "sts").get_caller_identity()
    assert ident["Arn"] == nobody["user"]["Arn"]
