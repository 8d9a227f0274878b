"""Privilege escalation, path by path: every IAM path of DataDog's pathfinding.cloud catalogue
(../shared/vectors/privesc/, Apache-2.0) and the ways out of a permissions boundary in AWS's
"Permissions boundaries for IAM entities" guide.

For each path, three attackers try its IAM writes:
- one granted the path's permissions succeeds (so the path is real here, and the denials below
  are the policy engine's doing, not a missing feature);
- one lacking the permission its first write needs is denied, and the store is byte for byte as
  it was (read straight from its SQLite file);
- one granted the permissions in an identity policy but held by a permissions boundary that does
  not allow them is denied with AWS's boundary message, and nothing changes.
Paths that end in sts:AssumeRole are then completed end to end: the attacker assumes the role
it changed and acts as an administrator with the session (and sts-001, the assumption alone).
"""

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import unique

VECTORS = Path(__file__).resolve().parents[3] / "shared" / "vectors" / "privesc" / "pathfinding-iam-sts-paths.json"
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ADMIN_DOC = doc({"Effect": "Allow", "Action": "*", "Resource": "*"})
READ_ONLY_DOC = doc({"Effect": "Allow", "Action": ["iam:Get*", "iam:List*"], "Resource": "*"})


def load_paths():
    if not VECTORS.exists():
        pytest.fail(f"the privilege-escalation vectors are missing: {VECTORS}", pytrace=False)
    return json.loads(VECTORS.read_text())["paths"]


class World:
    """Fresh targets for one attempt: an admin user, a plain user, roles, groups, policies."""

    def __init__(self, server):
        iam = server.iam()
        self.server = server
        acct = server.account_id
        self.victim = iam.create_user(UserName=unique("victim"))["User"]["UserName"]
        iam.attach_user_policy(UserName=self.victim, PolicyArn=ADMIN)
        iam.create_login_profile(UserName=self.victim, Password="Victim-pass-1")
        self.victim_keys = [iam.create_access_key(UserName=self.victim)["AccessKey"]["AccessKeyId"] for _ in range(2)]
        self.plain = iam.create_user(UserName=unique("plain"))["User"]["UserName"]
        trust_root = doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                          "Action": "sts:AssumeRole"})
        self.role = iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=trust_root)["Role"]["RoleName"]
        self.admin_role = iam.create_role(RoleName=unique("admrole"),
                                          AssumeRolePolicyDocument=trust_root)["Role"]["RoleName"]
        iam.attach_role_policy(RoleName=self.admin_role, PolicyArn=ADMIN)
        self.role_policy = iam.create_policy(PolicyName=unique("rolepol"),
                                             PolicyDocument=READ_ONLY_DOC)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=self.role, PolicyArn=self.role_policy)
        self.group = iam.create_group(GroupName=unique("grp"))["Group"]["GroupName"]
        self.admin_group = iam.create_group(GroupName=unique("admgrp"))["Group"]["GroupName"]
        iam.attach_group_policy(GroupName=self.admin_group, PolicyArn=ADMIN)
        self.own_policy = iam.create_policy(PolicyName=unique("own"), PolicyDocument=READ_ONLY_DOC)["Policy"]["Arn"]
        self.attacker = iam.create_user(UserName=unique("attacker"))["User"]
        name = self.attacker["UserName"]
        iam.add_user_to_group(GroupName=self.group, UserName=name)
        iam.attach_user_policy(UserName=name, PolicyArn=self.own_policy)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.as_attacker = server.iam(key["AccessKeyId"], key["SecretAccessKey"])

    def grant(self, actions):
        self.server.iam().put_user_policy(UserName=self.attacker["UserName"], PolicyName="grant", PolicyDocument=doc(
            {"Effect": "Allow", "Action": sorted(actions), "Resource": "*"}))

    def bound(self):
        boundary = self.server.iam().create_policy(PolicyName=unique("bnd"), PolicyDocument=READ_ONLY_DOC)["Policy"]
        self.server.iam().put_user_permissions_boundary(UserName=self.attacker["UserName"],
                                                        PermissionsBoundary=boundary["Arn"])

    def trust_attacker(self):
        return doc({"Effect": "Allow", "Principal": {"AWS": self.attacker["Arn"]}, "Action": "sts:AssumeRole"})


# Each path's IAM writes, in order, as (permission, call) pairs.
def writes(path_id, w):
    a = w.as_attacker
    me = w.attacker["UserName"]
    steps = {
        "iam-001": [("iam:CreatePolicyVersion", lambda: a.create_policy_version(
            PolicyArn=w.own_policy, PolicyDocument=ADMIN_DOC, SetAsDefault=True))],
        "iam-002": [("iam:CreateAccessKey", lambda: a.create_access_key(UserName=w.plain))],
        "iam-003": [("iam:DeleteAccessKey", lambda: a.delete_access_key(UserName=w.victim,
                                                                         AccessKeyId=w.victim_keys[0])),
                    ("iam:CreateAccessKey", lambda: a.create_access_key(UserName=w.victim))],
        "iam-004": [("iam:CreateLoginProfile", lambda: a.create_login_profile(UserName=w.plain,
                                                                               Password="Attacker-pass-1"))],
        "iam-005": [("iam:PutRolePolicy", lambda: a.put_role_policy(RoleName=w.role, PolicyName="x",
                                                                     PolicyDocument=ADMIN_DOC))],
        "iam-006": [("iam:UpdateLoginProfile", lambda: a.update_login_profile(UserName=w.victim,
                                                                               Password="Attacker-pass-1"))],
        "iam-007": [("iam:PutUserPolicy", lambda: a.put_user_policy(UserName=me, PolicyName="x",
                                                                     PolicyDocument=ADMIN_DOC))],
        "iam-008": [("iam:AttachUserPolicy", lambda: a.attach_user_policy(UserName=me, PolicyArn=ADMIN))],
        "iam-009": [("iam:AttachRolePolicy", lambda: a.attach_role_policy(RoleName=w.role, PolicyArn=ADMIN))],
        "iam-010": [("iam:AttachGroupPolicy", lambda: a.attach_group_policy(GroupName=w.group, PolicyArn=ADMIN))],
        "iam-011": [("iam:PutGroupPolicy", lambda: a.put_group_policy(GroupName=w.group, PolicyName="x",
                                                                       PolicyDocument=ADMIN_DOC))],
        "iam-012": [("iam:UpdateAssumeRolePolicy", lambda: a.update_assume_role_policy(
            RoleName=w.admin_role, PolicyDocument=w.trust_attacker()))],
        "iam-013": [("iam:AddUserToGroup", lambda: a.add_user_to_group(GroupName=w.admin_group, UserName=me))],
        "iam-014": [("iam:AttachRolePolicy", lambda: a.attach_role_policy(RoleName=w.role, PolicyArn=ADMIN))],
        "iam-015": [("iam:AttachUserPolicy", lambda: a.attach_user_policy(UserName=w.plain, PolicyArn=ADMIN)),
                    ("iam:CreateAccessKey", lambda: a.create_access_key(UserName=w.plain))],
        "iam-016": [("iam:CreatePolicyVersion", lambda: a.create_policy_version(
            PolicyArn=w.role_policy, PolicyDocument=ADMIN_DOC, SetAsDefault=True))],
        "iam-017": [("iam:PutRolePolicy", lambda: a.put_role_policy(RoleName=w.role, PolicyName="x",
                                                                     PolicyDocument=ADMIN_DOC))],
        "iam-018": [("iam:PutUserPolicy", lambda: a.put_user_policy(UserName=w.plain, PolicyName="x",
                                                                     PolicyDocument=ADMIN_DOC)),
                    ("iam:CreateAccessKey", lambda: a.create_access_key(UserName=w.plain))],
        "iam-019": [("iam:AttachRolePolicy", lambda: a.attach_role_policy(RoleName=w.role, PolicyArn=ADMIN)),
                    ("iam:UpdateAssumeRolePolicy", lambda: a.update_assume_role_policy(
                        RoleName=w.role, PolicyDocument=w.trust_attacker()))],
        "iam-020": [("iam:CreatePolicyVersion", lambda: a.create_policy_version(
            PolicyArn=w.role_policy, PolicyDocument=ADMIN_DOC, SetAsDefault=True)),
                    ("iam:UpdateAssumeRolePolicy", lambda: a.update_assume_role_policy(
                        RoleName=w.role, PolicyDocument=w.trust_attacker()))],
        "iam-021": [("iam:PutRolePolicy", lambda: a.put_role_policy(RoleName=w.role, PolicyName="x",
                                                                     PolicyDocument=ADMIN_DOC)),
                    ("iam:UpdateAssumeRolePolicy", lambda: a.update_assume_role_policy(
                        RoleName=w.role, PolicyDocument=w.trust_attacker()))],
    }
    return steps[path_id]


PATHS = [p for p in load_paths() if p["id"].startswith("iam-")]


def test_the_catalogue_is_covered():
    ids = {p["id"] for p in load_paths()}
    assert {p["id"] for p in PATHS} == {f"iam-{n:03}" for n in range(1, 22)}
    # sts-001 is sts:AssumeRole alone: it has no IAM write (completed below).
    assert ids - {p["id"] for p in PATHS} == {"sts-001"}


# The role each path's writes open to the attacker: changed, then assumed.
ENDS_IN_A_ROLE = {"iam-012": "admin_role", "iam-014": "role", "iam-016": "role", "iam-017": "role",
                  "iam-019": "role", "iam-020": "role", "iam-021": "role", "sts-001": "admin_role"}


@pytest.mark.parametrize("path_id", sorted(ENDS_IN_A_ROLE))
def test_paths_through_a_role_are_completed_with_its_session(server, path_id):
    path = next(p for p in load_paths() if p["id"] == path_id)
    w = World(server)
    steps = writes(path_id, w) if path_id.startswith("iam-") else []
    w.grant(required_iam(path) | ({"sts:AssumeRole"} if any(
        r["permission"] == "sts:AssumeRole" for r in path["required"]) else set()))
    for _, call in steps:
        call()
    role_arn = server.iam().get_role(RoleName=getattr(w, ENDS_IN_A_ROLE[path_id]))["Role"]["Arn"]
    key = server.iam().create_access_key(UserName=w.attacker["UserName"])["AccessKey"]
    creds = server.sts(key["AccessKeyId"], key["SecretAccessKey"]).assume_role(
        RoleArn=role_arn, RoleSessionName="escalated")["Credentials"]
    admin = server.client("iam", creds["AccessKeyId"], creds["SecretAccessKey"], session_token=creds["SessionToken"])
    # The escalation is real: the session does what the attacker alone may not.
    admin.create_user(UserName=unique("made-by-escalation"))
    with pytest.raises(ClientError):
        w.as_attacker.create_user(UserName=unique("not-by-attacker"))


def required_iam(path):
    return {r["permission"] for r in path["required"] if r["permission"].startswith("iam:")}


@pytest.mark.parametrize("path", PATHS, ids=[p["id"] for p in PATHS])
def test_granted_the_path_works(server, path):
    w = World(server)
    steps = writes(path["id"], w)
    assert {perm for perm, _ in steps} == required_iam(path), "the steps must use exactly the path's IAM permissions"
    w.grant(required_iam(path))
    before = server.store_dump()
    for _, call in steps:
        call()
    # The dump sees every change (so an unchanged dump below means nothing changed).
    assert server.store_dump() != before


@pytest.mark.parametrize("path", PATHS, ids=[p["id"] for p in PATHS])
def test_without_the_permission_nothing_changes(server, path):
    w = World(server)
    steps = writes(path["id"], w)
    first_permission, first_call = steps[0]
    # Everything the path needs but its first write's permission, and every read.
    others = (required_iam(path) - {first_permission}) | {"iam:Get*", "iam:List*"}
    w.grant(others)
    before = server.store_dump()
    with pytest.raises(ClientError) as e:
        first_call()
    resp = e.value.response
    assert (resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert f"is not authorized to perform: {first_permission} on resource:" in resp["Error"]["Message"]
    assert "because no identity-based policy allows" in resp["Error"]["Message"]
    assert server.store_dump() == before


@pytest.mark.parametrize("path", PATHS, ids=[p["id"] for p in PATHS])
def test_a_boundary_holds_even_with_the_permission(server, path):
    w = World(server)
    steps = writes(path["id"], w)
    w.grant(required_iam(path))
    w.bound()
    before = server.store_dump()
    first_permission, first_call = steps[0]
    with pytest.raises(ClientError) as e:
        first_call()
    resp = e.value.response
    assert (resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]) == ("AccessDenied", 403)
    assert resp["Error"]["Message"].endswith(f"because no permissions boundary allows the {first_permission} action")
    assert server.store_dump() == before


def test_no_way_out_of_a_permissions_boundary(server):
    """AWS's guide: an administrator with iam:* held by a boundary that keeps the boundary in
    place cannot remove or change it, rewrite the boundary policy, or create an unbounded user."""
    iam = server.iam()
    acct = server.account_id
    name = unique("bounded-admin")
    boundary_name = unique("admin-boundary")
    boundary_arn = f"arn:aws:iam::{acct}:policy/{boundary_name}"
    iam.create_policy(PolicyName=boundary_name, PolicyDocument=doc(
        {"Sid": "Everything", "Effect": "Allow", "Action": "iam:*", "Resource": "*"},
        {"Sid": "NoBoundaryEdits", "Effect": "Deny",
         "Action": ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion",
                    "iam:SetDefaultPolicyVersion"], "Resource": boundary_arn},
        {"Sid": "NoBoundaryRemoval", "Effect": "Deny",
         "Action": ["iam:DeleteUserPermissionsBoundary", "iam:DeleteRolePermissionsBoundary"], "Resource": "*"},
        {"Sid": "OnlyWithThisBoundary", "Effect": "Deny",
         "Action": ["iam:CreateUser", "iam:CreateRole", "iam:PutUserPermissionsBoundary",
                    "iam:PutRolePermissionsBoundary"], "Resource": "*",
         "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary_arn}}}))
    iam.create_user(UserName=name, PermissionsBoundary=boundary_arn)
    iam.attach_user_policy(UserName=name, PolicyArn=ADMIN)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    a = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    wide = iam.create_policy(PolicyName=unique("wide"), PolicyDocument=ADMIN_DOC)["Policy"]["Arn"]
    trust = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    escapes = {
        "remove own boundary": lambda: a.delete_user_permissions_boundary(UserName=name),
        "replace own boundary": lambda: a.put_user_permissions_boundary(UserName=name, PermissionsBoundary=wide),
        "rewrite the boundary": lambda: a.create_policy_version(PolicyArn=boundary_arn, PolicyDocument=ADMIN_DOC,
                                                                SetAsDefault=True),
        "delete the boundary": lambda: a.delete_policy(PolicyArn=boundary_arn),
        "unbounded user": lambda: a.create_user(UserName=unique("free")),
        "user with another boundary": lambda: a.create_user(UserName=unique("free"), PermissionsBoundary=wide),
        "unbounded role": lambda: a.create_role(RoleName=unique("free"), AssumeRolePolicyDocument=trust),
    }
    for what, call in escapes.items():
        before = server.store_dump()
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied", what
        assert server.store_dump() == before, what
    # Beyond IAM the boundary allows nothing, whatever AdministratorAccess says.
    result = a.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{acct}:user/{name}",
                                         ActionNames=["s3:DeleteBucket"])["EvaluationResults"][0]
    assert result["EvalDecision"] == "implicitDeny"
    # Within the boundary the delegated work goes on.
    made = a.create_user(UserName=unique("ok"), PermissionsBoundary=boundary_arn)["User"]
    assert made["PermissionsBoundary"]["PermissionsBoundaryArn"] == boundary_arn

