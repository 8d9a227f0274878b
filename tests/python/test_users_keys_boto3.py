"""The user and access-key lifecycle through boto3, field for field against AWS's behaviour."""

import datetime
import re
import threading
import time

import pytest
from botocore.exceptions import ClientError

from conftest import unique

USER_ID = re.compile(r"^AIDA[A-Z0-9]{17}$")
KEY_ID = re.compile(r"^AKIA[A-Z0-9]{16}$")


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def near_now(value: datetime.datetime, slack=120):
    assert value.tzinfo is not None
    delta = abs((datetime.datetime.now(datetime.timezone.utc) - value).total_seconds())
    assert delta < slack, value


@pytest.fixture(scope="module")
def iam(server):
    return server.iam()


def user_arn(server, path, name):
    return f"arn:aws:iam::{server.account_id}:user{path}{name}"


def wait_for(fn, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


# Users.

def test_create_get_list_user_fields(server, iam):
    name = unique("alice")
    tags = [{"Key": "team", "Value": "blue"}, {"Key": "cost-center", "Value": "42"}]
    created = iam.create_user(UserName=name, Path="/eng/backend/", Tags=tags)["User"]
    assert created["UserName"] == name
    assert created["Path"] == "/eng/backend/"
    assert USER_ID.match(created["UserId"]), created["UserId"]
    assert len(created["UserId"]) == 21
    assert created["Arn"] == user_arn(server, "/eng/backend/", name)
    near_now(created["CreateDate"])
    assert created["Tags"] == tags
    assert "PasswordLastUsed" not in created and "PermissionsBoundary" not in created

    got = iam.get_user(UserName=name)["User"]
    for field in ("UserName", "Path", "UserId", "Arn", "CreateDate"):
        assert got[field] == created[field], field
    assert sorted(got["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])

    listed = [u for u in iam.list_users(PathPrefix="/eng/")["Users"] if u["UserName"] == name]
    assert len(listed) == 1
    for field in ("UserName", "Path", "UserId", "Arn", "CreateDate"):
        assert listed[0][field] == created[field], field
    # ListUsers does not return tags (AWS documents this).
    assert "Tags" not in listed[0]


def test_default_path_and_distinct_ids(server, iam):
    a, b = unique("plain"), unique("plain")
    ua = iam.create_user(UserName=a)["User"]
    ub = iam.create_user(UserName=b)["User"]
    assert ua["Path"] == "/" and ua["Arn"] == user_arn(server, "/", a)
    assert "Tags" not in ua
    assert ua["UserId"] != ub["UserId"]


def test_get_missing_user(iam):
    with pytest.raises(ClientError) as e:
        iam.get_user(UserName="no-such-user-x")
    assert error(e) == ("NoSuchEntity", 404, "The user with name no-such-user-x cannot be found.")
    # Existing-user names may be up to 128 characters (only new names stop at 64).
    with pytest.raises(ClientError) as e:
        iam.get_user(UserName="n" * 100)
    assert error(e)[:2] == ("NoSuchEntity", 404)


def test_root_get_user_without_name(server, iam):
    user = iam.get_user()["User"]
    assert user["Arn"] == f"arn:aws:iam::{server.account_id}:root"
    assert user["UserId"] == server.account_id
    # AWS returns no user name nor path for the root user, and the account's creation date.
    deviations = [f"{field}={user[field]!r}" for field in ("UserName", "Path") if field in user]
    if user["CreateDate"].year < 2000:
        deviations.append(f"CreateDate={user['CreateDate'].isoformat()}")
    assert not deviations, f"root GetUser differs from AWS: {deviations}"


def test_name_uniqueness_is_case_insensitive(iam):
    name = unique("CaseUser")
    iam.create_user(UserName=name)
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName=name.lower())
    assert error(e) == ("EntityAlreadyExists", 409, f"User with name {name.lower()} already exists.")
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName=name)
    assert error(e)[:2] == ("EntityAlreadyExists", 409)
    # Lookups ignore case too, and report the stored spelling.
    assert iam.get_user(UserName=name.upper())["User"]["UserName"] == name


def test_tags(iam):
    name = unique("tagged")
    iam.create_user(UserName=name, Tags=[{"Key": "a", "Value": "1"}])
    iam.tag_user(UserName=name, Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "one"}])
    tags = iam.list_user_tags(UserName=name)
    assert {t["Key"]: t["Value"] for t in tags["Tags"]} == {"a": "one", "b": "2"}
    assert tags["IsTruncated"] is False
    iam.tag_user(UserName=name, Tags=[{"Key": "empty", "Value": ""}])
    iam.untag_user(UserName=name, TagKeys=["a", "not-there"])
    tags = iam.list_user_tags(UserName=name)["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"b": "2", "empty": ""}
    first = iam.list_user_tags(UserName=name, MaxItems=1)
    assert len(first["Tags"]) == 1 and first["IsTruncated"] is True
    rest = iam.list_user_tags(UserName=name, Marker=first["Marker"])
    assert rest["IsTruncated"] is False
    assert {t["Key"] for t in first["Tags"] + rest["Tags"]} == {"b", "empty"}
    with pytest.raises(ClientError) as e:
        iam.tag_user(UserName="no-such-user-t", Tags=[{"Key": "a", "Value": "b"}])
    assert error(e)[:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as e:
        iam.tag_user(UserName=name, Tags=[{"Key": "dup", "Value": "1"}, {"Key": "dup", "Value": "2"}])
    assert error(e)[:2] == ("InvalidInput", 400)


def test_tag_quota(iam):
    name = unique("many-tags")
    iam.create_user(UserName=name, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    with pytest.raises(ClientError) as e:
        iam.tag_user(UserName=name, Tags=[{"Key": "one-more", "Value": "v"}])
    code, status, _ = error(e)
    assert (code, status) == ("LimitExceeded", 409)
    assert len(iam.list_user_tags(UserName=name)["Tags"]) == 50


def test_path_prefix(iam):
    root = f"/{unique('pp')}/"
    names = {p: unique("pu") for p in ("a/", "a/b/", "ab/", "c/")}
    for sub, name in names.items():
        iam.create_user(UserName=name, Path=root + sub)

    def listed(prefix):
        return sorted(u["UserName"] for u in iam.list_users(PathPrefix=prefix)["Users"])

    assert listed(root) == sorted(names.values())
    assert listed(root + "a/") == sorted([names["a/"], names["a/b/"]])
    assert listed(root + "a") == sorted([names["a/"], names["a/b/"], names["ab/"]])
    assert listed(root + "c/") == [names["c/"]]
    assert listed(root + "zzz/") == []
    everyone = [u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]
    assert set(names.values()) <= set(everyone)


def test_list_users_pagination(iam):
    prefix = f"/{unique('page')}/"
    names = {unique("pg") for _ in range(25)}
    for name in names:
        iam.create_user(UserName=name, Path=prefix)

    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"PathPrefix": prefix, "MaxItems": 10}
        if marker:
            kwargs["Marker"] = marker
        page = iam.list_users(**kwargs)
        pages += 1
        seen += [u["UserName"] for u in page["Users"]]
        if page["IsTruncated"]:
            assert page["Marker"], page
            assert len(page["Users"]) == 10
            marker = page["Marker"]
        else:
            assert "Marker" not in page
            break
    assert pages == 3
    assert len(seen) == 25 and set(seen) == names

    paginated = []
    for page in iam.get_paginator("list_users").paginate(PathPrefix=prefix, PaginationConfig={"PageSize": 7}):
        assert len(page["Users"]) <= 7
        paginated += [u["UserName"] for u in page["Users"]]
    assert sorted(paginated) == sorted(names)

    capped = iam.get_paginator("list_users").paginate(
        PathPrefix=prefix, PaginationConfig={"MaxItems": 12, "PageSize": 5}).build_full_result()
    assert len(capped["Users"]) == 12 and "NextToken" in capped

    whole = iam.list_users(PathPrefix=prefix, MaxItems=25)
    assert whole["IsTruncated"] is False and len(whole["Users"]) == 25


def test_update_user_rename_and_path(server, iam):
    old, new = unique("before"), unique("after")
    created = iam.create_user(UserName=old, Path="/old/")["User"]
    key = iam.create_access_key(UserName=old)["AccessKey"]
    iam.update_user(UserName=old, NewUserName=new, NewPath="/new/path/")

    with pytest.raises(ClientError) as e:
        iam.get_user(UserName=old)
    assert error(e) == ("NoSuchEntity", 404, f"The user with name {old} cannot be found.")
    got = iam.get_user(UserName=new)["User"]
    assert got["UserName"] == new and got["Path"] == "/new/path/"
    assert got["UserId"] == created["UserId"]
    assert got["CreateDate"] == created["CreateDate"]
    assert got["Arn"] == user_arn(server, "/new/path/", new)
    # The keys moved with the user, and still authenticate as it.
    keys = iam.list_access_keys(UserName=new)["AccessKeyMetadata"]
    assert [(k["UserName"], k["AccessKeyId"]) for k in keys] == [(new, key["AccessKeyId"])]
    ident = server.sts(key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
    assert ident["Arn"] == user_arn(server, "/new/path/", new)
    assert ident["UserId"] == created["UserId"]
    assert iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["UserName"] == new

    # Path only.
    iam.update_user(UserName=new, NewPath="/")
    assert iam.get_user(UserName=new)["User"]["Path"] == "/"

    # Renaming onto another user's name (in any case) is refused.
    other = unique("Other")
    iam.create_user(UserName=other)
    with pytest.raises(ClientError) as e:
        iam.update_user(UserName=new, NewUserName=other.lower())
    assert error(e)[:2] == ("EntityAlreadyExists", 409)
    assert iam.get_user(UserName=new)["User"]["UserName"] == new

    with pytest.raises(ClientError) as e:
        iam.update_user(UserName="no-such-user-u", NewPath="/x/")
    assert error(e) == ("NoSuchEntity", 404, "The user with name no-such-user-u cannot be found.")


def test_delete_user_conflict_while_keys_exist(iam):
    name = unique("doomed")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=name)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must delete access keys first.")
    assert iam.get_user(UserName=name)["User"]["UserName"] == name
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    iam.delete_user(UserName=name)
    with pytest.raises(ClientError) as e:
        iam.get_user(UserName=name)
    assert error(e)[:2] == ("NoSuchEntity", 404)
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=name)
    assert error(e) == ("NoSuchEntity", 404, f"The user with name {name} cannot be found.")
    assert name not in [u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]
    # The name is free again, with a new id.
    again = iam.create_user(UserName=name)["User"]
    assert again["UserName"] == name


# Access keys.

def test_rotation(server, iam):
    name = unique("rotor")
    user = iam.create_user(UserName=name)["User"]

    first = iam.create_access_key(UserName=name)["AccessKey"]
    assert first["UserName"] == name
    assert KEY_ID.match(first["AccessKeyId"]), first["AccessKeyId"]
    assert first["Status"] == "Active"
    assert len(first["SecretAccessKey"]) == 40
    near_now(first["CreateDate"])

    ident = server.sts(first["AccessKeyId"], first["SecretAccessKey"]).get_caller_identity()
    assert ident["Arn"] == user["Arn"]
    assert ident["UserId"] == user["UserId"]
    assert ident["Account"] == server.account_id

    second = iam.create_access_key(UserName=name)["AccessKey"]
    assert second["AccessKeyId"] != first["AccessKeyId"]
    assert second["SecretAccessKey"] != first["SecretAccessKey"]
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert sorted(k["AccessKeyId"] for k in listed) == sorted([first["AccessKeyId"], second["AccessKeyId"]])

    iam.delete_access_key(UserName=name, AccessKeyId=first["AccessKeyId"])
    with pytest.raises(ClientError) as e:
        server.sts(first["AccessKeyId"], first["SecretAccessKey"]).get_caller_identity()
    assert error(e) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    ident = server.sts(second["AccessKeyId"], second["SecretAccessKey"]).get_caller_identity()
    assert ident["Arn"] == user["Arn"]
    assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]] == \
        [second["AccessKeyId"]]

    with pytest.raises(ClientError) as e:
        iam.delete_access_key(UserName=name, AccessKeyId=first["AccessKeyId"])
    assert error(e) == ("NoSuchEntity", 404, f"The Access Key with id {first['AccessKeyId']} cannot be found.")


def test_third_key_exceeds_quota(iam):
    name = unique("greedy")
    iam.create_user(UserName=name)
    iam.create_access_key(UserName=name)
    iam.create_access_key(UserName=name)
    with pytest.raises(ClientError) as e:
        iam.create_access_key(UserName=name)
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")
    assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 2
    # ListAccessKeys pages like every IAM list.
    first = iam.list_access_keys(UserName=name, MaxItems=1)
    assert len(first["AccessKeyMetadata"]) == 1 and first["IsTruncated"] is True and first["Marker"]
    rest = iam.list_access_keys(UserName=name, MaxItems=1, Marker=first["Marker"])
    assert len(rest["AccessKeyMetadata"]) == 1 and rest["IsTruncated"] is False and "Marker" not in rest
    assert first["AccessKeyMetadata"][0]["AccessKeyId"] != rest["AccessKeyMetadata"][0]["AccessKeyId"]


def test_inactive_key_is_refused_at_once(server, iam):
    name = unique("sleeper")
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    sts = server.sts(key["AccessKeyId"], key["SecretAccessKey"])
    assert sts.get_caller_identity()["UserId"] == user["UserId"]

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Inactive"
    with pytest.raises(ClientError) as e:
        sts.get_caller_identity()
    assert error(e)[:2] == ("InvalidClientTokenId", 403)

    iam.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Active")
    assert iam.list_access_keys(UserName=name)["AccessKeyMetadata"][0]["Status"] == "Active"
    assert sts.get_caller_identity()["UserId"] == user["UserId"]


def test_key_of_another_user_is_not_found(iam):
    a, b = unique("owner"), unique("stranger")
    iam.create_user(UserName=a)
    iam.create_user(UserName=b)
    key = iam.create_access_key(UserName=a)["AccessKey"]
    for call in (lambda: iam.update_access_key(UserName=b, AccessKeyId=key["AccessKeyId"], Status="Inactive"),
                 lambda: iam.delete_access_key(UserName=b, AccessKeyId=key["AccessKeyId"])):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == ("NoSuchEntity", 404, f"The Access Key with id {key['AccessKeyId']} cannot be found.")
    assert iam.list_access_keys(UserName=a)["AccessKeyMetadata"][0]["Status"] == "Active"


def test_last_used(server, iam):
    name = unique("user-of-keys")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]

    fresh = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])
    assert fresh["UserName"] == name
    assert fresh["AccessKeyLastUsed"]["ServiceName"] == "N/A"
    assert fresh["AccessKeyLastUsed"]["Region"] == "N/A"
    assert "LastUsedDate" not in fresh["AccessKeyLastUsed"]

    server.sts(key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()

    def last_used():
        record = iam.get_access_key_last_used(AccessKeyId=key["AccessKeyId"])["AccessKeyLastUsed"]
        return record if "LastUsedDate" in record else None

    used = wait_for(last_used)
    assert used, "LastUsedDate never appeared after the key was used"
    assert used["ServiceName"] == "sts"
    assert used["Region"] == "us-east-1"
    near_now(used["LastUsedDate"])

    with pytest.raises(ClientError) as e:
        iam.get_access_key_last_used(AccessKeyId="AKIANOSUCHKEYNOSUCH0")
    assert error(e)[:2] == ("NoSuchEntity", 404)


def test_secret_only_from_create(server, iam):
    name = unique("secretive")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    listed = iam.list_access_keys(UserName=name)["AccessKeyMetadata"]
    assert len(listed) == 1
    assert set(listed[0]) == {"UserName", "AccessKeyId", "Status", "CreateDate"}
    assert listed[0]["CreateDate"] == key["CreateDate"]
    # Nowhere on the wire either.
    for body in (f"Action=ListAccessKeys&Version=2010-05-08&UserName={name}",
                 f"Action=GetAccessKeyLastUsed&Version=2010-05-08&AccessKeyId={key['AccessKeyId']}",
                 f"Action=GetUser&Version=2010-05-08&UserName={name}",
                 "Action=ListUsers&Version=2010-05-08"):
        resp = server.send(server.signed_request(body))
        assert resp.status == 200, resp.body
        assert key["SecretAccessKey"].encode() not in resp.body
        assert b"SecretAccessKey" not in resp.body


def test_user_without_policies_is_denied(server, iam):
    name = unique("powerless")
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    as_user = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    for action, call in (("iam:ListUsers", lambda: as_user.list_users()),
                         ("iam:GetUser", lambda: as_user.get_user()),
                         ("iam:CreateUser", lambda: as_user.create_user(UserName=unique("nope"))),
                         ("iam:CreateAccessKey", lambda: as_user.create_access_key())):
        with pytest.raises(ClientError) as e:
            call()
        code, status, message = error(e)
        assert (code, status) == ("AccessDenied", 403), action
        assert message.startswith(f"User: {user['Arn']} is not authorized to perform: {action} on resource: "), message
        assert message.endswith(f"because no identity-based policy allows the {action} action"), message
    assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 1
    # GetCallerIdentity needs no permission.
    assert server.sts(key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()["Arn"] == user["Arn"]


def test_root_key_from_the_environment_is_one_of_roots_keys(server, iam):
    """As in AWS, the key root signs with is one of root's access keys: ListAccessKeys (no user
    name, as root) lists it and GetAccessKeyLastUsed knows it."""
    listed = [k["AccessKeyId"] for k in iam.list_access_keys()["AccessKeyMetadata"]]
    assert server.root_key_id in listed
    last = iam.get_access_key_last_used(AccessKeyId=server.root_key_id)
    assert "UserName" not in last or last["UserName"] in ("", "root")


def test_concurrent_creates_respect_uniqueness_and_quota(server, iam):
    name = unique("racer")
    iam.create_user(UserName=name)

    def race(call, n=8):
        results, lock = [], threading.Lock()

        def run():
            client = server.iam()
            try:
                call(client)
                outcome = "ok"
            except ClientError as e:
                outcome = e.response["Error"]["Code"]
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=run) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return sorted(results)

    assert race(lambda c: c.create_access_key(UserName=name)) == ["LimitExceeded"] * 6 + ["ok"] * 2
    assert len(iam.list_access_keys(UserName=name)["AccessKeyMetadata"]) == 2
    same = unique("same")
    assert race(lambda c: c.create_user(UserName=same)) == ["EntityAlreadyExists"] * 7 + ["ok"]


def test_list_users_denial_names_the_user_path_resource(server, iam):
    """AWS authorizes ListUsers against `arn:aws:iam::ACCOUNT:user/` (the path prefix), and says
    so in the denial."""
    name = unique("lister")
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    with pytest.raises(ClientError) as e:
        server.iam(key["AccessKeyId"], key["SecretAccessKey"]).list_users()
    assert error(e) == (
        "AccessDenied", 403,
        f"User: {user['Arn']} is not authorized to perform: iam:ListUsers on resource: "
        f"arn:aws:iam::{server.account_id}:user/ because no identity-based policy allows the iam:ListUsers action",
    )
