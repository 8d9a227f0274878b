"""Roles end to end with boto3 and the aws CLI: trust policies, MaxSessionDuration,
descriptions, tags, inline and attached policies, boundaries, and AWS's errors. (Assuming a
role arrives with STS.)
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trust(principal):
    return doc({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def test_cli_creates_a_role_from_a_trust_policy_file_and_attaches_a_policy(server, tmp_path):
    """The flow of AWS's own guide: a trust-policy file, create-role, attach-role-policy."""
    trust_file = tmp_path / "trust.json"
    trust_file.write_text(trust({"Service": "ec2.amazonaws.com"}))
    name = unique("app")
    created = server.cli("iam", "create-role", "--role-name", name,
                         "--assume-role-policy-document", f"file://{trust_file}",
                         "--description", "the app", "--max-session-duration", "7200")["Role"]
    assert created["Arn"] == f"arn:aws:iam::{server.account_id}:role/{name}"
    assert created["RoleId"].startswith("AROA")
    assert created["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert (created["Description"], created["MaxSessionDuration"]) == ("the app", 7200)
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}))
    arn = server.cli("iam", "create-policy", "--policy-name", unique("read"),
                     "--policy-document", f"file://{policy_file}")["Policy"]["Arn"]
    server.cli("iam", "attach-role-policy", "--role-name", name, "--policy-arn", arn)
    attached = server.cli("iam", "list-attached-role-policies", "--role-name", name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [arn]
    got = server.cli("iam", "get-role", "--role-name", name)["Role"]
    assert got["RoleLastUsed"] == {}


def test_role_fields_updates_and_tags(server):
    iam = server.iam()
    name = unique("svc")
    role = iam.create_role(RoleName=name, Path="/svc/", AssumeRolePolicyDocument=trust({"AWS": server.account_id}),
                           Tags=[{"Key": "team", "Value": "blue"}])["Role"]
    assert role["MaxSessionDuration"] == 3600 and role["Path"] == "/svc/"
    assert role["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.update_role(RoleName=name, Description="d1", MaxSessionDuration=43200)
    got = iam.get_role(RoleName=name)["Role"]
    assert (got["Description"], got["MaxSessionDuration"]) == ("d1", 43200)
    assert iam.update_role_description(RoleName=name, Description="d2")["Role"]["Description"] == "d2"
    unchecked = server.client("iam", parameter_validation=False)  # boto3 would refuse it itself
    with pytest.raises(ClientError) as e:
        unchecked.update_role(RoleName=name, MaxSessionDuration=100)
    assert error(e)[:2] == ("ValidationError", 400)

    new_trust = trust({"Service": "lambda.amazonaws.com"})
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=new_trust)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"] == json.loads(new_trust)

    iam.tag_role(RoleName=name, Tags=[{"Key": "env", "Value": "prod"}])
    assert {t["Key"] for t in iam.list_role_tags(RoleName=name)["Tags"]} == {"team", "env"}
    iam.untag_role(RoleName=name, TagKeys=["TEAM"])
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "env", "Value": "prod"}]
    listed = {r["RoleName"]: r for r in iam.list_roles(PathPrefix="/svc/")["Roles"]}
    assert name in listed and "Tags" not in listed[name]


def test_trust_policies_are_checked_and_nothing_changes(server):
    iam = server.iam()
    name = unique("bad")
    with_resource = doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole", "Resource": "*"})
    no_principal = doc({"Effect": "Allow", "Action": "sts:AssumeRole"})
    for bad in [with_resource, no_principal, "{"]:
        with pytest.raises(ClientError) as e:
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=bad)
        assert error(e)[:2] == ("MalformedPolicyDocument", 400)
    big = doc(*[{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{i:012}:root"}, "Action": "sts:AssumeRole"}
                for i in range(40)])
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=big)
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for ACLSizePerRole: 2048")
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert error(e) == ("NoSuchEntity", 404, f"The role with name {name} cannot be found.")


def test_role_policies_boundary_and_delete_conflicts(server):
    iam = server.iam()
    name = unique("worker")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"Service": "ec2.amazonaws.com"}))
    iam.put_role_policy(RoleName=name, PolicyName="inline",
                        PolicyDocument=doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}))
    got = iam.get_role_policy(RoleName=name, PolicyName="inline")
    assert got["RoleName"] == name and got["PolicyDocument"]["Statement"][0]["Action"] == "sqs:*"
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["inline"]
    boundary = iam.create_policy(PolicyName=unique("rb"),
                                 PolicyDocument=doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=boundary)
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary
    arn = iam.create_policy(PolicyName=unique("ra"),
                            PolicyDocument=doc({"Effect": "Allow", "Action": "sns:*", "Resource": "*"}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    assert [r["RoleName"] for r in iam.list_entities_for_policy(PolicyArn=arn)["PolicyRoles"]] == [name]

    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=name)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=name)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    iam.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]
    iam.delete_role(RoleName=name)
    assert iam.get_policy(PolicyArn=boundary)["Policy"]["PermissionsBoundaryUsageCount"] == 0
