"""The same lifecycle through the unmodified `aws` CLI (v1): what a person at a terminal sees."""

import datetime
import json
import re
import time

import pytest

from conftest import unique

USER_ID = re.compile(r"^AIDA[A-Z0-9]{17}$")
KEY_ID = re.compile(r"^AKIA[A-Z0-9]{16}$")


def parse_time(text: str) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert value.tzinfo is not None, text
    return value


def near_now(text: str, slack=120):
    delta = abs((datetime.datetime.now(datetime.timezone.utc) - parse_time(text)).total_seconds())
    assert delta < slack, text


def test_user_lifecycle(server):
    cli = server.cli
    name = unique("cli-user")
    created = cli("iam", "create-user", "--user-name", name, "--path", "/cli/",
                  "--tags", "Key=team,Value=red", "Key=env,Value=dev")["User"]
    assert created["UserName"] == name
    assert created["Path"] == "/cli/"
    assert USER_ID.match(created["UserId"]) and len(created["UserId"]) == 21
    assert created["Arn"] == f"arn:aws:iam::{server.account_id}:user/cli/{name}"
    near_now(created["CreateDate"])
    assert sorted(created["Tags"], key=lambda t: t["Key"]) == [{"Key": "env", "Value": "dev"},
                                                                {"Key": "team", "Value": "red"}]

    got = cli("iam", "get-user", "--user-name", name)["User"]
    assert {k: got[k] for k in ("UserName", "Path", "UserId", "Arn", "CreateDate")} == \
        {k: created[k] for k in ("UserName", "Path", "UserId", "Arn", "CreateDate")}

    listed = cli("iam", "list-users", "--path-prefix", "/cli/")["Users"]
    assert [u["UserName"] for u in listed] == [name]
    assert "Tags" not in listed[0]

    cli("iam", "tag-user", "--user-name", name, "--tags", "Key=team,Value=green")
    cli("iam", "untag-user", "--user-name", name, "--tag-keys", "env")
    # The CLI pages list-user-tags itself, so IsTruncated/Marker are not in its output.
    tags = cli("iam", "list-user-tags", "--user-name", name)
    assert tags == {"Tags": [{"Key": "team", "Value": "green"}]}

    new = unique("cli-renamed")
    assert cli("iam", "update-user", "--user-name", name, "--new-user-name", new, "--new-path", "/cli2/") is None
    code, message = server.cli_error("iam", "get-user", "--user-name", name)
    assert (code, message) == ("NoSuchEntity", f"The user with name {name} cannot be found.")
    got = cli("iam", "get-user", "--user-name", new)["User"]
    assert (got["Path"], got["UserId"]) == ("/cli2/", created["UserId"])
    assert got["Arn"] == f"arn:aws:iam::{server.account_id}:user/cli2/{new}"

    code, message = server.cli_error("iam", "create-user", "--user-name", new.upper())
    assert (code, message) == ("EntityAlreadyExists", f"User with name {new.upper()} already exists.")

    assert cli("iam", "delete-user", "--user-name", new) is None
    code, _ = server.cli_error("iam", "get-user", "--user-name", new)
    assert code == "NoSuchEntity"


def test_validation_error_text(server):
    code, message = server.cli_error("iam", "create-user", "--user-name", "x" * 65)
    assert code == "ValidationError"
    assert message == (f"1 validation error detected: Value '{'x' * 65}' at 'userName' failed to satisfy constraint: "
                       "Member must have length less than or equal to 64")


def test_list_users_pagination(server):
    prefix = f"/{unique('clipage')}/"
    names = sorted(unique("cp") for _ in range(5))
    for name in names:
        server.iam().create_user(UserName=name, Path=prefix)

    # --page-size is the API's MaxItems: the CLI follows Marker until IsTruncated is false.
    everything = server.cli("iam", "list-users", "--path-prefix", prefix, "--page-size", "2")
    assert sorted(u["UserName"] for u in everything["Users"]) == names

    first = server.cli("iam", "list-users", "--path-prefix", prefix, "--max-items", "3", "--page-size", "2")
    assert len(first["Users"]) == 3 and first["NextToken"]
    rest = server.cli("iam", "list-users", "--path-prefix", prefix, "--max-items", "3", "--page-size", "2",
                      "--starting-token", first["NextToken"])
    assert len(rest["Users"]) == 2 and "NextToken" not in rest
    assert sorted(u["UserName"] for u in first["Users"] + rest["Users"]) == names

    raw = server.cli("iam", "list-users", "--path-prefix", prefix, "--max-items", "2", "--no-paginate")
    assert raw["IsTruncated"] is True and raw["Marker"]
    assert len(raw["Users"]) == 2


def test_rotation_story(server):
    cli = server.cli
    name = unique("cli-rotor")
    user = cli("iam", "create-user", "--user-name", name)["User"]

    first = cli("iam", "create-access-key", "--user-name", name)["AccessKey"]
    assert first["UserName"] == name and first["Status"] == "Active"
    assert KEY_ID.match(first["AccessKeyId"]) and len(first["SecretAccessKey"]) == 40
    near_now(first["CreateDate"])

    ident = cli("sts", "get-caller-identity", key_id=first["AccessKeyId"], secret=first["SecretAccessKey"])
    assert ident == {"UserId": user["UserId"], "Account": server.account_id, "Arn": user["Arn"]}

    listed = cli("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in listed] == [first["AccessKeyId"]]
    assert "SecretAccessKey" not in json.dumps(listed)

    second = cli("iam", "create-access-key", "--user-name", name)["AccessKey"]
    code, message = server.cli_error("iam", "create-access-key", "--user-name", name)
    assert (code, message) == ("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2")

    code, message = server.cli_error("iam", "delete-user", "--user-name", name)
    assert (code, message) == ("DeleteConflict", "Cannot delete entity, must delete access keys first.")

    cli("iam", "delete-access-key", "--user-name", name, "--access-key-id", first["AccessKeyId"])
    code, message = server.cli_error("sts", "get-caller-identity", key_id=first["AccessKeyId"],
                                     secret=first["SecretAccessKey"])
    assert (code, message) == ("InvalidClientTokenId", "The security token included in the request is invalid.")
    ident = cli("sts", "get-caller-identity", key_id=second["AccessKeyId"], secret=second["SecretAccessKey"])
    assert ident["Arn"] == user["Arn"]

    # Deactivate: refused at once; reactivate: works again.
    cli("iam", "update-access-key", "--user-name", name, "--access-key-id", second["AccessKeyId"],
        "--status", "Inactive")
    code, _ = server.cli_error("sts", "get-caller-identity", key_id=second["AccessKeyId"],
                               secret=second["SecretAccessKey"])
    assert code == "InvalidClientTokenId"
    statuses = cli("iam", "list-access-keys", "--user-name", name)["AccessKeyMetadata"]
    assert [(k["AccessKeyId"], k["Status"]) for k in statuses] == [(second["AccessKeyId"], "Inactive")]
    cli("iam", "update-access-key", "--user-name", name, "--access-key-id", second["AccessKeyId"],
        "--status", "Active")
    assert cli("sts", "get-caller-identity", key_id=second["AccessKeyId"],
               secret=second["SecretAccessKey"])["UserId"] == user["UserId"]

    # As the user, IAM is denied: it has no policies.
    code, message = server.cli_error("iam", "list-users", key_id=second["AccessKeyId"],
                                     secret=second["SecretAccessKey"])
    assert code == "AccessDenied"
    assert message.startswith(f"User: {user['Arn']} is not authorized to perform: iam:ListUsers")

    cli("iam", "delete-access-key", "--user-name", name, "--access-key-id", second["AccessKeyId"])
    cli("iam", "delete-user", "--user-name", name)


def test_last_used(server):
    cli = server.cli
    name = unique("cli-last")
    cli("iam", "create-user", "--user-name", name)
    key = cli("iam", "create-access-key", "--user-name", name)["AccessKey"]
    fresh = cli("iam", "get-access-key-last-used", "--access-key-id", key["AccessKeyId"])
    assert fresh == {"UserName": name, "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}

    cli("sts", "get-caller-identity", key_id=key["AccessKeyId"], secret=key["SecretAccessKey"])
    deadline = time.monotonic() + 5
    while True:
        used = cli("iam", "get-access-key-last-used", "--access-key-id", key["AccessKeyId"])
        if "LastUsedDate" in used["AccessKeyLastUsed"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert used["UserName"] == name
    last = used["AccessKeyLastUsed"]
    assert (last["ServiceName"], last["Region"]) == ("sts", "us-east-1")
    near_now(last["LastUsedDate"])


def test_root_identity_and_unknown_key(server):
    ident = server.cli("sts", "get-caller-identity")
    assert ident == {"UserId": server.account_id, "Account": server.account_id,
                     "Arn": f"arn:aws:iam::{server.account_id}:root"}
    code, _ = server.cli_error("sts", "get-caller-identity", key_id="AKIAUNKNOWNUNKNOWN00", secret="z" * 40)
    assert code == "InvalidClientTokenId"
    code, _ = server.cli_error("iam", "list-users", secret="z" * 40)
    assert code == "SignatureDoesNotMatch"
