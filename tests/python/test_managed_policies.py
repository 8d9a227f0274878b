"""Customer managed policies, their versions, attachment to users and permissions boundaries,
end to end with boto3 and the aws CLI: AWS's shapes and errors, and enforcement (a change to a
policy version, an attachment or a boundary is in force for the very next request).
"""

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW_LIST_USERS = {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}
ALLOW_GET_USER = {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def user_with_key(server, prefix="u", **create):
    iam = server.iam()
    user = iam.create_user(UserName=unique(prefix), **create)["User"]
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    return user, server.iam(key["AccessKeyId"], key["SecretAccessKey"])


def test_policy_lifecycle_shapes_and_versions(server):
    iam = server.iam()
    name = unique("p")
    created = iam.create_policy(PolicyName=name, Path="/team/", PolicyDocument=doc(ALLOW_LIST_USERS),
                                Description="lists users", Tags=[{"Key": "owner", "Value": "ops"}])["Policy"]
    arn = f"arn:aws:iam::{server.account_id}:policy/team/{name}"
    assert created["Arn"] == arn
    assert created["PolicyId"].startswith("ANPA") and len(created["PolicyId"]) == 21
    assert (created["DefaultVersionId"], created["AttachmentCount"], created["IsAttachable"]) == ("v1", 0, True)
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert got["Description"] == "lists users"
    assert got["Tags"] == [{"Key": "owner", "Value": "ops"}]

    # Names are unique in any letter case.
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName=name.upper(), PolicyDocument=doc(ALLOW_LIST_USERS))
    assert error(e)[:2] == ("EntityAlreadyExists", 409)

    v1 = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]
    assert v1["IsDefaultVersion"] is True
    assert v1["Document"] == json.loads(doc(ALLOW_LIST_USERS))  # boto3 decodes it

    for n in range(2, 6):
        v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(ALLOW_GET_USER))["PolicyVersion"]
        assert (v["VersionId"], v["IsDefaultVersion"]) == (f"v{n}", False)
    with pytest.raises(ClientError) as e:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(ALLOW_GET_USER))
    assert error(e)[:2] == ("LimitExceeded", 409)
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in versions] == ["v5", "v4", "v3", "v2", "v1"]

    with pytest.raises(ClientError) as e:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    assert error(e) == ("DeleteConflict", 409, "Cannot delete the default version of a policy.")
    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert error(e)[:2] == ("DeleteConflict", 409)

    iam.set_default_policy_version(PolicyArn=arn, VersionId="v3")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v3"
    with pytest.raises(ClientError) as e:
        iam.set_default_policy_version(PolicyArn=arn, VersionId="v9")
    assert error(e)[:2] == ("NoSuchEntity", 404)
    for v in ["v1", "v2", "v4", "v5"]:
        iam.delete_policy_version(PolicyArn=arn, VersionId=v)
    # A new version number is never reused.
    assert iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(ALLOW_GET_USER))["PolicyVersion"]["VersionId"] == "v6"
    iam.delete_policy_version(PolicyArn=arn, VersionId="v6")

    listed = [p["Arn"] for p in iam.list_policies(Scope="Local", PathPrefix="/team/")["Policies"]]
    assert arn in listed
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.get_policy(PolicyArn=arn)
    assert error(e) == ("NoSuchEntity", 404, f"Policy {arn} was not found.")


def test_malformed_and_oversized_documents_change_nothing(server):
    iam = server.iam()
    name = unique("bad")
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName=name, PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}')
    assert error(e)[:2] == ("MalformedPolicyDocument", 400)
    big = doc(*[{"Effect": "Allow", "Action": f"s3:GetObject{i:04}", "Resource": "*"} for i in range(150)])
    with pytest.raises(ClientError) as e:
        iam.create_policy(PolicyName=name, PolicyDocument=big)
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144")
    assert name not in [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]]


def test_attached_policy_is_enforced_and_follows_its_default_version(server):
    iam = server.iam()
    user, as_user = user_with_key(server)
    arn = iam.create_policy(PolicyName=unique("lister"), PolicyDocument=doc(ALLOW_LIST_USERS))["Policy"]["Arn"]
    with pytest.raises(ClientError) as e:
        as_user.list_users()
    assert error(e)[:2] == ("AccessDenied", 403)

    iam.attach_user_policy(UserName=user["UserName"], PolicyArn=arn)
    iam.attach_user_policy(UserName=user["UserName"], PolicyArn=arn)  # again: no change
    assert iam.list_attached_user_policies(UserName=user["UserName"])["AttachedPolicies"] == [
        {"PolicyName": arn.rsplit("/", 1)[1], "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    as_user.list_users()  # allowed at once

    # A new default version is in force for the very next request.
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc(ALLOW_GET_USER), SetAsDefault=True)
    with pytest.raises(ClientError) as e:
        as_user.list_users()
    assert error(e)[:2] == ("AccessDenied", 403)
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    as_user.list_users()

    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == [user["UserName"]]

    with pytest.raises(ClientError) as e:
        iam.delete_policy(PolicyArn=arn)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete a policy attached to entities.")
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=user["UserName"])
    assert error(e)[:2] == ("DeleteConflict", 409)

    iam.detach_user_policy(UserName=user["UserName"], PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        as_user.list_users()
    assert error(e)[:2] == ("AccessDenied", 403)
    with pytest.raises(ClientError) as e:
        iam.detach_user_policy(UserName=user["UserName"], PolicyArn=arn)
    assert error(e) == ("NoSuchEntity", 404, f"Policy {arn} was not found.")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0


def test_attaching_a_missing_policy_and_the_quota(server):
    iam = server.iam()
    user, _ = user_with_key(server)
    missing = f"arn:aws:iam::{server.account_id}:policy/nope-{unique('x')}"
    with pytest.raises(ClientError) as e:
        iam.attach_user_policy(UserName=user["UserName"], PolicyArn=missing)
    assert error(e) == ("NoSuchEntity", 404, f"Policy {missing} does not exist or is not attachable.")
    arns = [iam.create_policy(PolicyName=unique("q"), PolicyDocument=doc(ALLOW_GET_USER))["Policy"]["Arn"]
            for _ in range(11)]
    for arn in arns[:10]:
        iam.attach_user_policy(UserName=user["UserName"], PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.attach_user_policy(UserName=user["UserName"], PolicyArn=arns[10])
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for PoliciesPerUser: 10")
    assert len(iam.list_attached_user_policies(UserName=user["UserName"])["AttachedPolicies"]) == 10


def test_a_permissions_boundary_limits_what_policies_allow(server):
    iam = server.iam()
    boundary = iam.create_policy(PolicyName=unique("boundary"), PolicyDocument=doc(ALLOW_GET_USER))["Policy"]["Arn"]
    user, as_user = user_with_key(server, PermissionsBoundary=boundary)
    got = iam.get_user(UserName=user["UserName"])["User"]
    assert got["PermissionsBoundary"] == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                                          "PermissionsBoundaryArn": boundary}
    iam.put_user_policy(UserName=user["UserName"], PolicyName="all",
                        PolicyDocument=doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"}))
    as_user.get_user(UserName=user["UserName"])
    with pytest.raises(ClientError) as e:
        as_user.list_users()
    code, status, message = error(e)
    assert (code, status) == ("AccessDenied", 403)
    assert message.endswith("because no permissions boundary allows the iam:ListUsers action"), message
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"] == 1

    iam.delete_user_permissions_boundary(UserName=user["UserName"])
    as_user.list_users()
    assert "PermissionsBoundary" not in iam.get_user(UserName=user["UserName"])["User"]
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"] == 0

    iam.put_user_permissions_boundary(UserName=user["UserName"], PermissionsBoundary=boundary)
    with pytest.raises(ClientError):
        as_user.list_users()

    missing = f"arn:aws:iam::{server.account_id}:policy/none"
    with pytest.raises(ClientError) as e:
        iam.create_user(UserName=unique("nb"), PermissionsBoundary=missing)
    assert error(e) == ("NoSuchEntity", 404, f"Policy {missing} does not exist or is not attachable.")


def test_a_delegated_administrator_creates_users_only_with_the_boundary(server):
    """AWS's guidance: allow iam:CreateUser only when iam:PermissionsBoundary is the given
    policy, and never the removal of a boundary."""
    iam = server.iam()
    boundary = iam.create_policy(PolicyName=unique("dev-boundary"), PolicyDocument=doc(ALLOW_GET_USER))["Policy"]["Arn"]
    admin, as_admin = user_with_key(server, "admin")
    iam.put_user_policy(UserName=admin["UserName"], PolicyName="delegate", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:CreateUser", "iam:PutUserPermissionsBoundary"], "Resource": "*",
         "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}}},
        {"Effect": "Deny", "Action": "iam:DeleteUserPermissionsBoundary", "Resource": "*"},
    ))
    with pytest.raises(ClientError) as e:
        as_admin.create_user(UserName=unique("free"))
    assert error(e)[:2] == ("AccessDenied", 403)
    made = as_admin.create_user(UserName=unique("bounded"), PermissionsBoundary=boundary)["User"]
    assert made["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    with pytest.raises(ClientError) as e:
        as_admin.delete_user_permissions_boundary(UserName=made["UserName"])
    code, _, message = error(e)
    assert code == "AccessDenied" and "with an explicit deny in an identity-based policy" in message
    other = iam.create_policy(PolicyName=unique("wide"), PolicyDocument=doc(ALLOW_LIST_USERS))["Policy"]["Arn"]
    with pytest.raises(ClientError) as e:
        as_admin.put_user_permissions_boundary(UserName=made["UserName"], PermissionsBoundary=other)
    assert error(e)[:2] == ("AccessDenied", 403)
    assert iam.get_user(UserName=made["UserName"])["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary


def test_cli_creates_a_policy_from_a_file_and_attaches_it(server, tmp_path):
    path = tmp_path / "policy.json"
    path.write_text(doc(ALLOW_LIST_USERS))
    name = unique("cli")
    created = server.cli("iam", "create-policy", "--policy-name", name, "--policy-document", f"file://{path}")
    arn = created["Policy"]["Arn"]
    user = unique("cliuser")
    server.cli("iam", "create-user", "--user-name", user)
    server.cli("iam", "attach-user-policy", "--user-name", user, "--policy-arn", arn)
    attached = server.cli("iam", "list-attached-user-policies", "--user-name", user)
    assert attached["AttachedPolicies"] == [{"PolicyName": name, "PolicyArn": arn}]
    version = server.cli("iam", "get-policy-version", "--policy-arn", arn, "--version-id", "v1")
    assert version["PolicyVersion"]["Document"]["Statement"][0]["Action"] == "iam:ListUsers"


def test_a_new_default_version_reaches_group_members_and_boundary_holders(server):
    """A principal's compiled policies are cached by one revision number: a managed policy's new
    default version must reach users who hold it through a group and users who have it as their
    boundary, on the very next request."""
    iam = server.iam()
    via_group, as_member = user_with_key(server, "member")
    group = iam.create_group(GroupName=unique("grp"))["Group"]["GroupName"]
    iam.add_user_to_group(GroupName=group, UserName=via_group["UserName"])
    shared = iam.create_policy(PolicyName=unique("shared"), PolicyDocument=doc(ALLOW_LIST_USERS))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=shared)
    bounded, as_bounded = user_with_key(server, "bounded")
    iam.put_user_policy(UserName=bounded["UserName"], PolicyName="all", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}))
    iam.put_user_permissions_boundary(UserName=bounded["UserName"], PermissionsBoundary=shared)
    as_member.list_users()
    as_bounded.list_users()

    iam.create_policy_version(PolicyArn=shared, PolicyDocument=doc(ALLOW_GET_USER), SetAsDefault=True)
    for client in (as_member, as_bounded):
        with pytest.raises(ClientError) as e:
            client.list_users()
        assert error(e)[:2] == ("AccessDenied", 403)
    iam.set_default_policy_version(PolicyArn=shared, VersionId="v1")
    as_member.list_users()
    as_bounded.list_users()
    # A change to the group's own policies reaches its members as well.
    iam.detach_group_policy(GroupName=group, PolicyArn=shared)
    with pytest.raises(ClientError) as e:
        as_member.list_users()
    assert error(e)[:2] == ("AccessDenied", 403)
    iam.put_group_policy(GroupName=group, PolicyName="inline", PolicyDocument=doc(ALLOW_LIST_USERS))
    as_member.list_users()
