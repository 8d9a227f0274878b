"""Login profiles, ChangePassword and the account password policy, end to end with boto3:
passwords are checked against the policy, never returned, and a user may change only their
own password (with IAMUserChangePassword's permission, or freely when the policy allows).
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def test_login_profile_lifecycle_and_default_rules(server):
    iam = server.iam()
    user = iam.create_user(UserName=unique("console"))["User"]["UserName"]
    with pytest.raises(ClientError) as e:
        iam.create_login_profile(UserName=user, Password="password")
    assert error(e) == ("PasswordPolicyViolation", 400, "Password does not conform to the account password policy.")
    created = iam.create_login_profile(UserName=user, Password="Tr0ub4dor&3", PasswordResetRequired=True)["LoginProfile"]
    assert created["UserName"] == user and created["PasswordResetRequired"] is True
    assert "Password" not in created
    with pytest.raises(ClientError) as e:
        iam.create_login_profile(UserName=user, Password="Tr0ub4dor&3")
    assert error(e)[:2] == ("EntityAlreadyExists", 409)
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is True
    iam.update_login_profile(UserName=user, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=user)["LoginProfile"]["PasswordResetRequired"] is False
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=user)
    assert error(e) == ("DeleteConflict", 409, "Cannot delete entity, must delete login profile first.")
    iam.delete_login_profile(UserName=user)
    with pytest.raises(ClientError) as e:
        iam.get_login_profile(UserName=user)
    assert error(e) == ("NoSuchEntity", 404, f"Login Profile for User {user} cannot be found.")
    iam.delete_user(UserName=user)
    assert "Tr0ub4dor" not in server.stderr()


def test_password_policy_and_changing_ones_own_password(server):
    iam = server.iam()
    with pytest.raises(ClientError) as e:
        iam.get_account_password_policy()
    assert error(e)[:2] == ("NoSuchEntity", 404)
    user = iam.create_user(UserName=unique("changer"))["User"]["UserName"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    as_user = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    iam.create_login_profile(UserName=user, Password="First-pass-1")

    # Without a policy letting users change passwords, ChangePassword needs the permission
    # that AWS's IAMUserChangePassword grants: on one's own user only.
    with pytest.raises(ClientError) as e:
        as_user.change_password(OldPassword="First-pass-1", NewPassword="Second-pass-2")
    assert error(e)[:2] == ("AccessDenied", 403)
    iam.put_user_policy(UserName=user, PolicyName="change", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:ChangePassword",
                                                "Resource": "arn:aws:iam::*:user/${aws:username}"}]}))
    as_user.change_password(OldPassword="First-pass-1", NewPassword="Second-pass-2")
    with pytest.raises(ClientError) as e:
        as_user.change_password(OldPassword="wrong", NewPassword="Third-pass-3")
    assert error(e)[0] == "InvalidInput"

    iam.update_account_password_policy(MinimumPasswordLength=14, RequireSymbols=True, RequireNumbers=True,
                                       AllowUsersToChangePassword=True, PasswordReusePrevention=2,
                                       MaxPasswordAge=90)
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert (policy["MinimumPasswordLength"], policy["ExpirePasswords"], policy["MaxPasswordAge"]) == (14, True, 90)
    iam.delete_user_policy(UserName=user, PolicyName="change")
    # Now no permission is needed, and the user may read the rules.
    assert as_user.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 14
    with pytest.raises(ClientError) as e:
        as_user.change_password(OldPassword="Second-pass-2", NewPassword="Short-3")
    assert error(e)[0] == "PasswordPolicyViolation"
    with pytest.raises(ClientError) as e:
        as_user.change_password(OldPassword="Second-pass-2", NewPassword="Second-pass-2")
    assert error(e)[0] == "PasswordPolicyViolation", "reuse prevention"
    as_user.change_password(OldPassword="Second-pass-2", NewPassword="A-much-longer-pass-4")
    iam.delete_account_password_policy()
    with pytest.raises(ClientError) as e:
        iam.delete_account_password_policy()
    assert error(e)[:2] == ("NoSuchEntity", 404)
