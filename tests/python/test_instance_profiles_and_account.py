"""Instance profiles (with the iam:PassRole check AddRoleToInstanceProfile makes), the account
alias and GetAccountSummary, end to end with boto3.
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


EC2_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def test_instance_profile_lifecycle(server):
    iam = server.iam()
    name, role = unique("web"), unique("web-role")
    profile = iam.create_instance_profile(InstanceProfileName=name, Path="/apps/",
                                          Tags=[{"Key": "app", "Value": "web"}])["InstanceProfile"]
    assert profile["Arn"] == f"arn:aws:iam::{server.account_id}:instance-profile/apps/{name}"
    assert profile["InstanceProfileId"].startswith("AIPA") and profile["Roles"] == []
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    got = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert [r["RoleName"] for r in got["Roles"]] == [role]
    assert got["Roles"][0]["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)
    assert [p["InstanceProfileName"] for p in iam.list_instance_profiles_for_role(RoleName=role)["InstanceProfiles"]] == [name]

    other = unique("other-role")
    iam.create_role(RoleName=other, AssumeRolePolicyDocument=EC2_TRUST)
    with pytest.raises(ClientError) as e:
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=other)
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1")

    with pytest.raises(ClientError) as e:
        iam.delete_instance_profile(InstanceProfileName=name)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must remove roles from instance profile first.")
    with pytest.raises(ClientError) as e:
        iam.delete_role(RoleName=role)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must remove roles from instance profile first.")

    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=role)
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "env", "Value": "dev"}])
    assert {t["Key"] for t in iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"]} == {"app", "env"}
    iam.delete_instance_profile(InstanceProfileName=name)
    with pytest.raises(ClientError) as e:
        iam.get_instance_profile(InstanceProfileName=name)
    assert error(e) == ("NoSuchEntity", 404, f"Instance Profile {name} cannot be found.")
    iam.delete_role(RoleName=role)


def test_adding_a_role_to_a_profile_needs_pass_role(server):
    iam = server.iam()
    name, role = unique("batch"), unique("batch-role")
    iam.create_instance_profile(InstanceProfileName=name)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST)
    user = iam.create_user(UserName=unique("ops"))["User"]["UserName"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    iam.put_user_policy(UserName=user, PolicyName="profiles", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:AddRoleToInstanceProfile", "Resource": "*"}))
    role_arn = f"arn:aws:iam::{server.account_id}:role/{role}"
    with pytest.raises(ClientError) as e:
        as_user.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    code, _, message = error(e)
    assert code == "AccessDenied"
    assert f"iam:PassRole on resource: {role_arn} " in message
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"] == []

    # PassRole allowed, but only to another service: still denied.
    iam.put_user_policy(UserName=user, PolicyName="pass", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}))
    with pytest.raises(ClientError):
        as_user.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    iam.put_user_policy(UserName=user, PolicyName="pass", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role_arn,
         "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}}))
    as_user.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]] == [role]


def test_account_alias_and_summary(server):
    iam = server.iam()
    assert iam.list_account_aliases()["AccountAliases"] == []
    alias = unique("acme")
    iam.create_account_alias(AccountAlias=alias)
    assert iam.list_account_aliases()["AccountAliases"] == [alias]
    second = unique("acme2")
    iam.create_account_alias(AccountAlias=second)  # one alias: it replaces the first
    assert iam.list_account_aliases()["AccountAliases"] == [second]
    with pytest.raises(ClientError) as e:
        iam.delete_account_alias(AccountAlias=alias)
    assert error(e) == ("NoSuchEntity", 404, f"The account alias {alias} cannot be found.")
    iam.delete_account_alias(AccountAlias=second)
    assert iam.list_account_aliases()["AccountAliases"] == []

    before = iam.get_account_summary()["SummaryMap"]
    iam.create_user(UserName=unique("counted"))
    iam.create_group(GroupName=unique("counted"))
    after = iam.get_account_summary()["SummaryMap"]
    assert (after["Users"], after["Groups"]) == (before["Users"] + 1, before["Groups"] + 1)
    assert after["UsersQuota"] == 5000 and after["AccessKeysPerUserQuota"] == 2
    assert after["AccountAccessKeysPresent"] == 1
    assert len(after) == 34, sorted(after)


def test_account_authorization_details(server):
    """Everything that decides permissions, in one paged report, as audit tools read it."""
    iam = server.iam()
    group, user, role, profile = unique("aad-g"), unique("aad-u"), unique("aad-r"), unique("aad-p")
    arn = iam.create_policy(PolicyName=unique("aad-pol"),
                            PolicyDocument=doc({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=doc({"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}),
                              SetAsDefault=True)
    iam.create_group(GroupName=group)
    iam.put_group_policy(GroupName=group, PolicyName="g", PolicyDocument=doc({"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}))
    iam.create_user(UserName=user, Tags=[{"Key": "k", "Value": "v"}])
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=arn)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=EC2_TRUST)
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role)

    details = iam.get_account_authorization_details()
    users = {u["UserName"]: u for u in details["UserDetailList"]}
    assert users[user]["GroupList"] == [group]
    assert users[user]["AttachedManagedPolicies"] == [{"PolicyName": arn.rsplit("/", 1)[1], "PolicyArn": arn}]
    assert users[user]["Tags"] == [{"Key": "k", "Value": "v"}]
    groups = {g["GroupName"]: g for g in details["GroupDetailList"]}
    assert groups[group]["GroupPolicyList"][0]["PolicyDocument"]["Statement"][0]["Action"] == "sqs:*"
    roles = {r["RoleName"]: r for r in details["RoleDetailList"]}
    assert roles[role]["AssumeRolePolicyDocument"] == json.loads(EC2_TRUST)
    assert [p["InstanceProfileName"] for p in roles[role]["InstanceProfileList"]] == [profile]
    policies = {p["Arn"]: p for p in details["Policies"]}
    versions = policies[arn]["PolicyVersionList"]
    assert [(v["VersionId"], v["IsDefaultVersion"]) for v in versions] == [("v2", True), ("v1", False)]

    only_roles = iam.get_account_authorization_details(Filter=["Role"])
    assert only_roles["UserDetailList"] == [] and role in [r["RoleName"] for r in only_roles["RoleDetailList"]]

    # Paged: every entity exactly once.
    seen, marker = [], None
    while True:
        kwargs = {"MaxItems": 2, **({"Marker": marker} if marker else {})}
        page = iam.get_account_authorization_details(**kwargs)
        seen += [u["UserId"] for u in page["UserDetailList"]] + [g["GroupId"] for g in page["GroupDetailList"]]
        seen += [r["RoleId"] for r in page["RoleDetailList"]] + [p["PolicyId"] for p in page["Policies"]]
        if not page["IsTruncated"]:
            break
        marker = page["Marker"]
    total = (len(details["UserDetailList"]) + len(details["GroupDetailList"]) + len(details["RoleDetailList"])
             + len(details["Policies"]))
    assert len(seen) == len(set(seen)) == total
