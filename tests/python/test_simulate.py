"""The policy simulator APIs and enforcement with real policies, driven by boto3 and the aws CLI.

Scenarios are the ones AWS's own guidance teaches: deny outside a corporate CIDR, read-only EC2,
a per-user bucket with ${aws:username}, an explicit deny of deletes overriding an allow.
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique

CORPORATE_CIDR = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowS3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {
            "Sid": "DenyOutsideCorp",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}},
        },
    ],
}

EC2_READ_ONLY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
}

PER_USER_BUCKET = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "OwnPrefix",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": "arn:aws:s3:::home-bucket/${aws:username}/*",
        }
    ],
}

NO_DELETES = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "AllowAll", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {"Sid": "NoDeletes", "Effect": "Deny", "Action": "s3:Delete*", "Resource": "*"},
    ],
}


def ctx(key, kind, *values):
    return {"ContextKeyName": key, "ContextKeyValues": list(values), "ContextKeyType": kind}


def decisions(resp):
    return {(r["EvalActionName"], r["EvalResourceName"]): r["EvalDecision"] for r in resp["EvaluationResults"]}


def test_deny_outside_corporate_cidr(server):
    iam = server.iam()
    policy = json.dumps(CORPORATE_CIDR)
    inside = iam.simulate_custom_policy(
        PolicyInputList=[policy], ActionNames=["s3:GetObject"],
        ContextEntries=[ctx("aws:SourceIp", "ip", "203.0.113.7")])
    assert decisions(inside) == {("s3:GetObject", "*"): "allowed"}
    outside = iam.simulate_custom_policy(
        PolicyInputList=[policy], ActionNames=["s3:GetObject"],
        ContextEntries=[ctx("aws:SourceIp", "ip", "198.51.100.1")])
    result = outside["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    [stmt] = result["MatchedStatements"]
    assert stmt["SourcePolicyId"] == "PolicyInputList.1"
    assert stmt["StartPosition"]["Line"] == 1 and stmt["StartPosition"]["Column"] > 1
    assert outside["IsTruncated"] is False


def test_ec2_read_only(server):
    iam = server.iam()
    resp = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps(EC2_READ_ONLY)],
        ActionNames=["ec2:DescribeInstances", "ec2:describevolumes", "ec2:RunInstances", "ec2:TerminateInstances"])
    assert decisions(resp) == {
        ("ec2:DescribeInstances", "*"): "allowed",
        ("ec2:describevolumes", "*"): "allowed",
        ("ec2:RunInstances", "*"): "implicitDeny",
        ("ec2:TerminateInstances", "*"): "implicitDeny",
    }
    denied = [r for r in resp["EvaluationResults"] if r["EvalDecision"] == "implicitDeny"]
    assert all(r["MatchedStatements"] == [] for r in denied)


def test_per_user_bucket_with_username_variable(server):
    iam = server.iam()
    resp = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps(PER_USER_BUCKET)],
        ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::home-bucket/alice/notes.txt", "arn:aws:s3:::home-bucket/bob/notes.txt"],
        ContextEntries=[ctx("aws:username", "string", "alice")])
    assert decisions(resp) == {
        ("s3:GetObject", "arn:aws:s3:::home-bucket/alice/notes.txt"): "allowed",
        ("s3:GetObject", "arn:aws:s3:::home-bucket/bob/notes.txt"): "implicitDeny",
    }
    # Without the key the variable can't be resolved: nothing matches, and the key is reported.
    missing = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps(PER_USER_BUCKET)], ActionNames=["s3:GetObject"],
        ResourceArns=["arn:aws:s3:::home-bucket/alice/notes.txt"])
    assert missing["EvaluationResults"][0]["EvalDecision"] == "implicitDeny"
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[json.dumps(PER_USER_BUCKET)])
    assert [k.lower() for k in keys["ContextKeyNames"]] == ["aws:username"]


def test_explicit_deny_of_deletes_overrides_allow_cli(server):
    out = server.cli(
        "iam", "simulate-custom-policy",
        "--policy-input-list", json.dumps(NO_DELETES),
        "--action-names", "s3:PutObject", "s3:DeleteObject", "s3:DeleteBucket")
    got = {r["EvalActionName"]: r["EvalDecision"] for r in out["EvaluationResults"]}
    assert got == {"s3:PutObject": "allowed", "s3:DeleteObject": "explicitDeny", "s3:DeleteBucket": "explicitDeny"}
    deny = next(r for r in out["EvaluationResults"] if r["EvalActionName"] == "s3:DeleteObject")
    assert [s["SourcePolicyId"] for s in deny["MatchedStatements"]] == ["PolicyInputList.1"]


def test_cli_context_keys_and_malformed_policy(server):
    out = server.cli("iam", "get-context-keys-for-custom-policy",
                     "--policy-input-list", json.dumps(CORPORATE_CIDR))
    assert [k.lower() for k in out["ContextKeyNames"]] == ["aws:sourceip"]
    code, message = server.cli_error("iam", "simulate-custom-policy",
                                     "--policy-input-list", '{"Statement": [}',
                                     "--action-names", "s3:GetObject")
    assert code == "MalformedPolicyDocument", message


def test_permissions_boundary_limits_simulation(server):
    iam = server.iam()
    resp = iam.simulate_custom_policy(
        PolicyInputList=[json.dumps(NO_DELETES)],
        PermissionsBoundaryPolicyInputList=[json.dumps(EC2_READ_ONLY)],
        ActionNames=["s3:PutObject", "ec2:DescribeInstances"])
    by_action = {r["EvalActionName"]: r for r in resp["EvaluationResults"]}
    assert by_action["s3:PutObject"]["EvalDecision"] == "implicitDeny"
    assert by_action["s3:PutObject"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}
    # The boundary allows EC2 reads, but no identity policy does.
    assert by_action["ec2:DescribeInstances"]["EvalDecision"] == "implicitDeny"


def test_user_policies_are_enforced_and_simulated(server):
    iam = server.iam()
    name = unique("dev")
    user = iam.create_user(UserName=name)["User"]
    key = iam.create_access_key(UserName=name)["AccessKey"]
    as_user = server.iam(key["AccessKeyId"], key["SecretAccessKey"])

    with pytest.raises(ClientError) as denied:
        as_user.list_users()
    assert denied.value.response["Error"]["Code"] == "AccessDenied"
    assert "no identity-based policy allows the iam:ListUsers action" in denied.value.response["Error"]["Message"]

    own_keys = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "OwnKeys", "Effect": "Allow", "Action": ["iam:ListAccessKeys", "iam:GetUser"],
             "Resource": "arn:aws:iam::*:user/${aws:username}"},
            {"Sid": "ListUsers", "Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"},
            {"Sid": "NeverDelete", "Effect": "Deny", "Action": "iam:DeleteUser", "Resource": "*"},
        ],
    }
    iam.put_user_policy(UserName=name, PolicyName="self-service", PolicyDocument=json.dumps(own_keys))
    got = iam.get_user_policy(UserName=name, PolicyName="self-service")
    assert got["PolicyDocument"] == own_keys  # botocore URL-decodes and parses the document
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == ["self-service"]

    # Enforced: the allow works, other users' keys are refused, the explicit deny wins.
    assert as_user.list_access_keys()["AccessKeyMetadata"][0]["AccessKeyId"] == key["AccessKeyId"]
    assert any(u["UserName"] == name for u in as_user.list_users()["Users"])
    other = unique("other")
    iam.create_user(UserName=other)
    with pytest.raises(ClientError) as other_keys:
        as_user.list_access_keys(UserName=other)
    assert other_keys.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as explicit:
        as_user.delete_user(UserName=other)
    assert explicit.value.response["Error"]["Code"] == "AccessDenied"
    assert "explicit deny" in explicit.value.response["Error"]["Message"]

    # The simulator sees the same policies.
    sim = iam.simulate_principal_policy(
        PolicySourceArn=user["Arn"], ActionNames=["iam:ListUsers", "iam:DeleteUser", "iam:CreateUser"])
    assert {r["EvalActionName"]: r["EvalDecision"] for r in sim["EvaluationResults"]} == {
        "iam:ListUsers": "allowed", "iam:DeleteUser": "explicitDeny", "iam:CreateUser": "implicitDeny"}
    deny = next(r for r in sim["EvaluationResults"] if r["EvalActionName"] == "iam:DeleteUser")
    assert deny["MatchedStatements"][0]["SourcePolicyId"] == "self-service"
    assert deny["MatchedStatements"][0]["SourcePolicyType"] == "user"
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=user["Arn"])
    assert [k.lower() for k in keys["ContextKeyNames"]] == ["aws:username"]

    # DeleteUser refuses while the inline policy remains.
    iam.delete_access_key(UserName=name, AccessKeyId=key["AccessKeyId"])
    with pytest.raises(ClientError) as conflict:
        iam.delete_user(UserName=name)
    assert conflict.value.response["Error"]["Code"] == "DeleteConflict"
    assert conflict.value.response["Error"]["Message"] == "Cannot delete entity, must delete policies first."
    iam.delete_user_policy(UserName=name, PolicyName="self-service")
    iam.delete_user(UserName=name)


def test_put_user_policy_rejects_bad_documents(server):
    iam = server.iam()
    name = unique("strict")
    iam.create_user(UserName=name)
    with pytest.raises(ClientError) as bad:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*",
                                                     "Principal": "*"}]}))
    assert bad.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    huge = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"s3:Get{'x' * 40}{i}", "Resource": "*"} for i in range(60)]}
    with pytest.raises(ClientError) as too_big:
        iam.put_user_policy(UserName=name, PolicyName="big", PolicyDocument=json.dumps(huge))
    assert too_big.value.response["Error"]["Code"] == "LimitExceeded"
    assert iam.list_user_policies(UserName=name)["PolicyNames"] == []


def test_roles_and_groups_are_simulated_with_their_own_policies(server):
    """SimulatePrincipalPolicy takes a user, group or role ARN: a role's inline and attached
    policies within its boundary, a group's inline and attached policies."""
    iam = server.iam()
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName=unique("sim-role"), AssumeRolePolicyDocument=trust)["Role"]
    iam.put_role_policy(RoleName=role["RoleName"], PolicyName="s3", PolicyDocument=json.dumps(NO_DELETES))
    iam.attach_role_policy(RoleName=role["RoleName"],
                           PolicyArn="arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess")
    actions = ["s3:GetObject", "s3:DeleteObject", "ec2:DescribeInstances", "iam:ListUsers"]
    got = decisions(iam.simulate_principal_policy(PolicySourceArn=role["Arn"], ActionNames=actions))
    assert got == {("s3:GetObject", "*"): "allowed", ("s3:DeleteObject", "*"): "explicitDeny",
                   ("ec2:DescribeInstances", "*"): "allowed", ("iam:ListUsers", "*"): "implicitDeny"}
    result = iam.simulate_principal_policy(PolicySourceArn=role["Arn"], ActionNames=["s3:GetObject"])
    assert result["EvaluationResults"][0]["MatchedStatements"][0]["SourcePolicyType"] == "role"

    # The role's boundary limits it.
    boundary = iam.create_policy(PolicyName=unique("sim-boundary"),
                                 PolicyDocument=json.dumps(EC2_READ_ONLY))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName=role["RoleName"], PermissionsBoundary=boundary)
    got = decisions(iam.simulate_principal_policy(PolicySourceArn=role["Arn"], ActionNames=actions))
    assert got[("s3:GetObject", "*")] == "implicitDeny"
    assert got[("ec2:DescribeInstances", "*")] == "allowed"

    group = iam.create_group(GroupName=unique("sim-group"))["Group"]
    iam.put_group_policy(GroupName=group["GroupName"], PolicyName="ec2", PolicyDocument=json.dumps(EC2_READ_ONLY))
    got = decisions(iam.simulate_principal_policy(PolicySourceArn=group["Arn"], ActionNames=actions))
    assert got[("ec2:DescribeInstances", "*")] == "allowed" and got[("s3:GetObject", "*")] == "implicitDeny"

    with pytest.raises(ClientError) as e:
        iam.simulate_principal_policy(PolicySourceArn=role["Arn"].replace(role["RoleName"], unique("no-role")),
                                      ActionNames=actions)
    assert e.value.response["Error"]["Code"] == "NoSuchEntity"
