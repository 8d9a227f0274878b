"""Two `gatehouse serve` processes on one data directory: what one writes is in force on the
other for the very next request. No sleeps: every check is the next request after the write.

Covered: an inline policy put and deleted, an access key deactivated, reactivated, created and
deleted, and a user created and deleted, each written through one server and used through the
other, in both directions.
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import new_server, random_account_id, unique

LIST_USERS = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}],
})


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Servers A and B on the same data directory, root key and account id."""
    a = new_server(tmp_path_factory, "shared-a", account_id=random_account_id())
    b = new_server(tmp_path_factory, "shared-b", account_id=a.account_id)
    b.data_dir = a.data_dir
    b.root_key_id, b.root_secret = a.root_key_id, a.root_secret
    a.start()
    try:
        b.start()
        try:
            yield a, b
        finally:
            if b.proc is not None:
                assert b.stop() == 0, b.stderr()
    finally:
        if a.proc is not None:
            assert a.stop() == 0, a.stderr()


def code_of(call):
    """The error code `call()` fails with, or None when it succeeds."""
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None


def test_both_servers_share_one_directory(pair):
    a, b = pair
    assert a.data_dir == b.data_dir and a.port != b.port
    assert a.sts().get_caller_identity()["Arn"] == b.sts().get_caller_identity()["Arn"]


def user_with_key(server, allowed=True):
    """A new user (through `server`, as root) with one access key and, if `allowed`, the inline
    policy allowing iam:ListUsers. Returns (name, key id, secret)."""
    name = unique("alice")
    server.iam().create_user(UserName=name)
    key = server.iam().create_access_key(UserName=name)["AccessKey"]
    if allowed:
        server.iam().put_user_policy(UserName=name, PolicyName="list", PolicyDocument=LIST_USERS)
    return name, key["AccessKeyId"], key["SecretAccessKey"]


def test_policy_put_and_deleted_on_one_server_is_in_force_on_the_other_at_once(pair):
    a, b = pair
    name, kid, secret = user_with_key(a)

    # Policy put through A: B allows it on the very next request.
    assert name in [u["UserName"] for u in b.iam(kid, secret).list_users()["Users"]]

    # Policy deleted through A: B denies.
    a.iam().delete_user_policy(UserName=name, PolicyName="list")
    assert code_of(lambda: b.iam(kid, secret).list_users()) == ("AccessDenied", 403)

    # Put back through B: A allows (A had already seen the user with no policy).
    assert code_of(lambda: a.iam(kid, secret).list_users()) == ("AccessDenied", 403)
    b.iam().put_user_policy(UserName=name, PolicyName="list", PolicyDocument=LIST_USERS)
    assert name in [u["UserName"] for u in a.iam(kid, secret).list_users()["Users"]]


def test_key_deactivated_and_reactivated_on_one_server_is_in_force_on_the_other_at_once(pair):
    a, b = pair
    name, kid, secret = user_with_key(a)
    assert code_of(lambda: b.iam(kid, secret).list_users()) is None
    assert code_of(lambda: a.iam(kid, secret).list_users()) is None

    # Deactivated through A: B refuses the key.
    a.iam().update_access_key(UserName=name, AccessKeyId=kid, Status="Inactive")
    assert code_of(lambda: b.iam(kid, secret).list_users()) == ("InvalidClientTokenId", 403)

    # Reactivated through B: A accepts it (A had seen it active, then inactive through itself).
    assert code_of(lambda: a.iam(kid, secret).list_users()) == ("InvalidClientTokenId", 403)
    b.iam().update_access_key(UserName=name, AccessKeyId=kid, Status="Active")
    assert code_of(lambda: a.iam(kid, secret).list_users()) is None


def test_key_created_and_deleted_on_one_server_is_in_force_on_the_other_at_once(pair):
    a, b = pair
    name, kid, secret = user_with_key(a)
    assert code_of(lambda: a.iam(kid, secret).list_users()) is None
    assert code_of(lambda: b.iam(kid, secret).list_users()) is None

    # A second key created through B works on A at once.
    key2 = b.iam().create_access_key(UserName=name)["AccessKey"]
    kid2, secret2 = key2["AccessKeyId"], key2["SecretAccessKey"]
    assert code_of(lambda: a.iam(kid2, secret2).list_users()) is None

    # A key deleted through A is unknown to B at once; the other key still works there.
    a.iam().delete_access_key(UserName=name, AccessKeyId=kid)
    assert code_of(lambda: b.iam(kid, secret).list_users()) == ("InvalidClientTokenId", 403)
    assert code_of(lambda: b.iam(kid2, secret2).list_users()) is None


def test_users_created_and_deleted_are_seen_by_the_other_server_at_once(pair):
    a, b = pair
    name = unique("shared-user")
    created = a.iam().create_user(UserName=name, Path="/team/")["User"]
    got = b.iam().get_user(UserName=name)["User"]
    assert (got["UserId"], got["Arn"], got["Path"]) == (created["UserId"], created["Arn"], "/team/")

    b.iam().delete_user(UserName=name)
    with pytest.raises(ClientError) as e:
        a.iam().get_user(UserName=name)
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    assert name not in [u["UserName"] for u in a.iam().list_users()["Users"]]


def test_a_user_deleted_on_one_server_can_not_sign_on_the_other(pair):
    a, b = pair
    name = unique("gone")
    a.iam().create_user(UserName=name)
    a.iam().put_user_policy(UserName=name, PolicyName="list", PolicyDocument=LIST_USERS)
    key = a.iam().create_access_key(UserName=name)["AccessKey"]
    kid, secret = key["AccessKeyId"], key["SecretAccessKey"]
    assert code_of(lambda: b.iam(kid, secret).list_users()) is None
    b.iam().delete_access_key(UserName=name, AccessKeyId=kid)
    b.iam().delete_user_policy(UserName=name, PolicyName="list")
    b.iam().delete_user(UserName=name)
    assert code_of(lambda: a.iam(kid, secret).list_users()) == ("InvalidClientTokenId", 403)
