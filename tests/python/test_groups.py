"""Groups end to end with boto3: the group lifecycle and AWS's errors, membership both ways,
and enforcement: a member gets the group's inline and attached policies, and loses them the
moment it leaves the group or the group's policy changes.
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def user_with_key(server, prefix="member"):
    iam = server.iam()
    user = iam.create_user(UserName=unique(prefix))["User"]
    key = iam.create_access_key(UserName=user["UserName"])["AccessKey"]
    return user, server.iam(key["AccessKeyId"], key["SecretAccessKey"])


def test_group_lifecycle_and_membership(server):
    iam = server.iam()
    name = unique("devs")
    group = iam.create_group(GroupName=name, Path="/eng/")["Group"]
    assert group["Arn"] == f"arn:aws:iam::{server.account_id}:group/eng/{name}"
    assert group["GroupId"].startswith("AGPA")
    with pytest.raises(ClientError) as e:
        iam.create_group(GroupName=name.upper())
    assert error(e)[:2] == ("EntityAlreadyExists", 409)

    users = [iam.create_user(UserName=unique("m"))["User"]["UserName"] for _ in range(3)]
    for u in users:
        iam.add_user_to_group(GroupName=name, UserName=u)
    iam.add_user_to_group(GroupName=name, UserName=users[0])  # again: no change
    got = iam.get_group(GroupName=name)
    assert sorted(u["UserName"] for u in got["Users"]) == sorted(users)
    page = iam.get_group(GroupName=name, MaxItems=2)
    assert page["IsTruncated"] and len(page["Users"]) == 2
    rest = iam.get_group(GroupName=name, Marker=page["Marker"])
    assert {u["UserName"] for u in page["Users"] + rest["Users"]} == set(users)
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName=users[0])["Groups"]] == [name]
    assert name in [g["GroupName"] for g in iam.list_groups(PathPrefix="/eng/")["Groups"]]

    with pytest.raises(ClientError) as e:
        iam.delete_group(GroupName=name)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must remove users from group first.")
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=users[0])
    assert error(e)[:2] == ("DeleteConflict", 409)

    new_name = unique("developers")
    iam.update_group(GroupName=name, NewGroupName=new_name, NewPath="/dev/")
    assert iam.get_group(GroupName=new_name)["Group"]["Arn"].endswith(f":group/dev/{new_name}")
    for u in users:
        iam.remove_user_from_group(GroupName=new_name, UserName=u)
    with pytest.raises(ClientError) as e:
        iam.remove_user_from_group(GroupName=new_name, UserName=users[0])
    assert error(e)[:2] == ("NoSuchEntity", 404)
    iam.delete_group(GroupName=new_name)
    with pytest.raises(ClientError) as e:
        iam.get_group(GroupName=new_name)
    assert error(e) == ("NoSuchEntity", 404, f"The group with name {new_name} cannot be found.")


def test_members_get_the_groups_inline_and_attached_policies(server):
    iam = server.iam()
    group = unique("readers")
    iam.create_group(GroupName=group)
    user, as_user = user_with_key(server)
    iam.put_group_policy(GroupName=group, PolicyName="list",
                         PolicyDocument=doc({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))
    assert iam.list_group_policies(GroupName=group)["PolicyNames"] == ["list"]
    with pytest.raises(ClientError) as e:
        as_user.list_users()
    assert error(e)[:2] == ("AccessDenied", 403)

    iam.add_user_to_group(GroupName=group, UserName=user["UserName"])
    as_user.list_users()  # the group's inline policy, at once

    arn = iam.create_policy(PolicyName=unique("groups"),
                            PolicyDocument=doc({"Effect": "Allow", "Action": "iam:ListGroups", "Resource": "*"}))["Policy"]["Arn"]
    with pytest.raises(ClientError):
        as_user.list_groups()
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    as_user.list_groups()  # the group's attached policy, at once
    assert [p["PolicyArn"] for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]] == [arn]
    assert [g["GroupName"] for g in iam.list_entities_for_policy(PolicyArn=arn)["PolicyGroups"]] == [group]

    # A change to the group's policy reaches its members on their next request.
    iam.create_policy_version(PolicyArn=arn, SetAsDefault=True,
                              PolicyDocument=doc({"Effect": "Deny", "Action": "iam:ListGroups", "Resource": "*"}))
    with pytest.raises(ClientError) as e:
        as_user.list_groups()
    assert "with an explicit deny in an identity-based policy" in error(e)[2]

    iam.delete_group_policy(GroupName=group, PolicyName="list")
    with pytest.raises(ClientError):
        as_user.list_users()
    iam.put_group_policy(GroupName=group, PolicyName="list",
                         PolicyDocument=doc({"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))
    as_user.list_users()
    iam.remove_user_from_group(GroupName=group, UserName=user["UserName"])
    with pytest.raises(ClientError):
        as_user.list_users()

    with pytest.raises(ClientError) as e:
        iam.delete_group(GroupName=group)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must delete policies first.")
    iam.delete_group_policy(GroupName=group, PolicyName="list")
    with pytest.raises(ClientError) as e:
        iam.delete_group(GroupName=group)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must detach all policies first.")
    iam.detach_group_policy(GroupName=group, PolicyArn=arn)
    iam.delete_group(GroupName=group)


def test_update_group_needs_permission_on_the_new_name_too(server):
    iam = server.iam()
    group = unique("team")
    iam.create_group(GroupName=group, Path="/dept/")
    admin, as_admin = user_with_key(server, "groupadmin")
    iam.put_user_policy(UserName=admin["UserName"], PolicyName="dept", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:UpdateGroup",
         "Resource": f"arn:aws:iam::{server.account_id}:group/dept/*"}))
    with pytest.raises(ClientError) as e:
        as_admin.update_group(GroupName=group, NewPath="/admins/")
    code, _, message = error(e)
    assert code == "AccessDenied"
    assert f"on resource: arn:aws:iam::{server.account_id}:group/admins/{group} " in message
    renamed = unique("team2")
    as_admin.update_group(GroupName=group, NewGroupName=renamed)
    assert iam.get_group(GroupName=renamed)["Group"]["Path"] == "/dept/"


def test_the_group_quota_of_a_user(server):
    iam = server.iam()
    user = iam.create_user(UserName=unique("joiner"))["User"]["UserName"]
    groups = [iam.create_group(GroupName=unique("g"))["Group"]["GroupName"] for _ in range(11)]
    for g in groups[:10]:
        iam.add_user_to_group(GroupName=g, UserName=user)
    with pytest.raises(ClientError) as e:
        iam.add_user_to_group(GroupName=groups[10], UserName=user)
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for GroupsPerUser: 10")
