"""AWS managed policies (arn:aws:iam::aws:policy/...), end to end with boto3 and the aws CLI:
listed with AWS's scopes and filters, read, attached like AWS's and enforced, never changed.
The flows follow AWS's own guidance: a role from a trust-policy file with an AWS managed policy,
an EC2 read-only user, a user who may change only their own password.
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/ReadOnlyAccess"
EC2_READ_ONLY = "arn:aws:iam::aws:policy/AmazonEC2ReadOnlyAccess"
CHANGE_PASSWORD = "arn:aws:iam::aws:policy/IAMUserChangePassword"
VIEW_ONLY = "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def user_with_key(server, prefix="u"):
    iam = server.iam()
    user = iam.create_user(UserName=unique(prefix))["User"]
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    return user, server.iam(key["AccessKeyId"], key["SecretAccessKey"])


def list_all(iam, **kwargs):
    return [p for page in iam.get_paginator("list_policies").paginate(**kwargs) for p in page["Policies"]]


def test_the_catalogue_is_listed_read_and_paged(server):
    iam = server.iam()
    aws = list_all(iam, Scope="AWS")
    assert len(aws) > 1000
    arns = [p["Arn"] for p in aws]
    assert len(set(arns)) == len(arns), "a page boundary repeated or lost a policy"
    for arn in (ADMIN, READ_ONLY, EC2_READ_ONLY, CHANGE_PASSWORD, VIEW_ONLY):
        assert arn in arns
    admin = iam.get_policy(PolicyArn=ADMIN)["Policy"]
    assert (admin["PolicyName"], admin["Path"], admin["DefaultVersionId"], admin["IsAttachable"]) == (
        "AdministratorAccess", "/", "v1", True)
    assert admin["PolicyId"].startswith("ANPA") and len(admin["PolicyId"]) == 21
    version = iam.get_policy_version(PolicyArn=ADMIN, VersionId="v1")["PolicyVersion"]
    assert version["Document"]["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    assert version["IsDefaultVersion"] is True
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=ADMIN)["Versions"]] == ["v1"]

    # Path prefixes, and the scope that leaves AWS's out.
    job = list_all(iam, Scope="AWS", PathPrefix="/job-function/")
    assert VIEW_ONLY in [p["Arn"] for p in job] and all(p["Path"] == "/job-function/" for p in job)
    local_name = unique("local")
    iam.create_policy(PolicyName=local_name, PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    local = [p["PolicyName"] for p in list_all(iam, Scope="Local")]
    assert local_name in local and "AdministratorAccess" not in local
    every = [p["PolicyName"] for p in list_all(iam, Scope="All")]
    assert local_name in every and "AdministratorAccess" in every

    # The CLI reads the same catalogue.
    out = server.cli("iam", "list-policies", "--scope", "AWS", "--path-prefix", "/job-function/")
    assert VIEW_ONLY in [p["Arn"] for p in out["Policies"]]


def test_aws_managed_policies_cannot_be_changed(server):
    iam = server.iam()
    doc = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]})
    for call in (
        lambda: iam.delete_policy(PolicyArn=ADMIN),
        lambda: iam.create_policy_version(PolicyArn=ADMIN, PolicyDocument=doc, SetAsDefault=True),
        lambda: iam.set_default_policy_version(PolicyArn=ADMIN, VersionId="v1"),
        lambda: iam.delete_policy_version(PolicyArn=ADMIN, VersionId="v1"),
        lambda: iam.tag_policy(PolicyArn=ADMIN, Tags=[{"Key": "k", "Value": "v"}]),
        lambda: iam.untag_policy(PolicyArn=ADMIN, TagKeys=["k"]),
    ):
        with pytest.raises(ClientError) as e:
            call()
        code, status, message = error(e)
        assert (code, status) == ("UnmodifiableEntity", 400)
        assert ADMIN in message
    assert iam.get_policy_version(PolicyArn=ADMIN, VersionId="v1")["PolicyVersion"]["Document"]["Statement"][0][
        "Effect"] == "Allow"
    with pytest.raises(ClientError) as e:
        iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/NoSuchPolicyAnywhere")
    assert error(e)[:2] == ("NoSuchEntity", 404)


def test_a_role_from_a_trust_policy_file_with_an_aws_managed_policy(server, tmp_path):
    """AWS's guide: create a role from a trust-policy file, attach an AWS managed policy."""
    name = unique("ec2-role")
    trust = tmp_path / "trust.json"
    trust.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}))
    server.cli("iam", "create-role", "--role-name", name, "--assume-role-policy-document", f"file://{trust}")
    server.cli("iam", "attach-role-policy", "--role-name", name, "--policy-arn", READ_ONLY)
    attached = server.cli("iam", "list-attached-role-policies", "--role-name", name)["AttachedPolicies"]
    assert attached == [{"PolicyName": "ReadOnlyAccess", "PolicyArn": READ_ONLY}]
    entities = server.iam().list_entities_for_policy(PolicyArn=READ_ONLY)
    assert name in [r["RoleName"] for r in entities["PolicyRoles"]]
    # The usage is counted in this account, and shown by the filters that read it.
    assert server.iam().get_policy(PolicyArn=READ_ONLY)["Policy"]["AttachmentCount"] >= 1
    attached_only = [p["Arn"] for p in list_all(server.iam(), Scope="AWS", OnlyAttached=True)]
    assert READ_ONLY in attached_only and ADMIN not in attached_only
    details = server.iam().get_account_authorization_details(Filter=["AWSManagedPolicy"])
    assert READ_ONLY in [p["Arn"] for p in details["Policies"]]
    server.cli("iam", "detach-role-policy", "--role-name", name, "--policy-arn", READ_ONLY)
    server.cli("iam", "delete-role", "--role-name", name)


def test_an_attached_aws_managed_policy_is_enforced(server):
    iam = server.iam()
    user, as_user = user_with_key(server, "ro")
    with pytest.raises(ClientError) as e:
        as_user.list_users()
    assert error(e)[:2] == ("AccessDenied", 403)

    iam.attach_user_policy(UserName=user["UserName"], PolicyArn=READ_ONLY)
    as_user.list_users()  # ReadOnlyAccess allows iam:List*
    with pytest.raises(ClientError) as e:
        as_user.create_user(UserName=unique("nope"))
    code, status, message = error(e)
    assert (code, status) == ("AccessDenied", 403)
    assert "because no identity-based policy allows the iam:CreateUser action" in message

    # An EC2 read-only user: actions of services Gatehouse does not serve, checked by simulation.
    ec2_user, _ = user_with_key(server, "ec2")
    iam.attach_user_policy(UserName=ec2_user["UserName"], PolicyArn=EC2_READ_ONLY)
    results = iam.simulate_principal_policy(
        PolicySourceArn=ec2_user["Arn"],
        ActionNames=["ec2:DescribeInstances", "ec2:TerminateInstances", "iam:ListUsers"])["EvaluationResults"]
    decisions = {r["EvalActionName"]: r["EvalDecision"] for r in results}
    assert decisions == {"ec2:DescribeInstances": "allowed", "ec2:TerminateInstances": "implicitDeny",
                         "iam:ListUsers": "implicitDeny"}
    matched = [s for r in results for s in r["MatchedStatements"]]
    assert {s["SourcePolicyId"] for s in matched} == {EC2_READ_ONLY}
    assert {s["SourcePolicyType"] for s in matched} == {"aws-managed"}

    # Detached: in force for the very next request.
    iam.detach_user_policy(UserName=user["UserName"], PolicyArn=READ_ONLY)
    with pytest.raises(ClientError) as e:
        as_user.list_users()
    assert error(e)[:2] == ("AccessDenied", 403)


def test_a_user_who_may_change_only_their_own_password(server):
    """AWS's guide: IAMUserChangePassword lets a user change their own password and no other's."""
    iam = server.iam()
    iam.update_account_password_policy(MinimumPasswordLength=8, AllowUsersToChangePassword=False)
    try:
        me, as_me = user_with_key(server, "pw")
        other = iam.create_user(UserName=unique("other"))["User"]
        for u in (me, other):
            iam.create_login_profile(UserName=u["UserName"], Password="Initial-pass-1")
        # The account does not let users change their passwords: the policy is needed.
        with pytest.raises(ClientError) as e:
            as_me.change_password(OldPassword="Initial-pass-1", NewPassword="Changed-pass-2")
        assert error(e)[:2] == ("AccessDenied", 403)
        iam.attach_user_policy(UserName=me["UserName"], PolicyArn=CHANGE_PASSWORD)
        as_me.change_password(OldPassword="Initial-pass-1", NewPassword="Changed-pass-2")
        # The policy names ${aws:username}: another user's login profile stays out of reach.
        with pytest.raises(ClientError) as e:
            as_me.update_login_profile(UserName=other["UserName"], Password="Hijacked-pass-3")
        assert error(e)[:2] == ("AccessDenied", 403)
    finally:
        iam.delete_account_password_policy()
