"""Adjustable quotas: an operator raises an account's quotas as AWS lets accounts raise them
(managed policies per user and per role up to 20, a role's trust policy up to 4,096
characters) with `gatehouse account quota set`, and the running server enforces and reports
the new values on its next request.
"""

import json
import os
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import gatehouse_bin, new_server, random_account_id, unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def quota(srv, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env["GATEHOUSE_ACCOUNT_ID"] = srv.account_id
    return subprocess.run([str(gatehouse_bin()), "account", "quota", *args, "--data-dir", str(srv.data_dir)],
                          env=env, capture_output=True, text=True, timeout=60)


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = new_server(tmp_path_factory, "quotas", account_id=random_account_id()).start()
    yield s
    s.stop()


def test_raised_quotas_are_enforced_and_reported(srv):
    iam = srv.iam()
    listed = quota(srv)
    assert listed.returncode == 0, listed.stderr
    assert "ManagedPoliciesPerRole\t10\t" in listed.stdout and "RoleTrustPolicyLength\t2048\t" in listed.stdout

    role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))["Role"]
    arns = [iam.create_policy(PolicyName=unique("p"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))["Policy"]["Arn"] for _ in range(12)]
    for arn in arns[:10]:
        iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    with pytest.raises(ClientError) as e:
        iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arns[10])
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for PoliciesPerRole: 10")
    long_trust = doc(*[{"Effect": "Allow", "Principal": {"Service": f"s{i}.amazonaws.com"},
                        "Action": "sts:AssumeRole"} for i in range(40)])
    assert 2048 < len(long_trust.replace(" ", "")) < 4096
    with pytest.raises(ClientError) as e:
        iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=long_trust)
    assert error(e)[:2] == ("LimitExceeded", 409)

    for args in (("ManagedPoliciesPerRole", "20"), ("RoleTrustPolicyLength", "4096")):
        result = quota(srv, "set", *args)
        assert result.returncode == 0, result.stderr
    # The running server sees the new values on its next request.
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arns[10])
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arns[11])
    iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=long_trust)
    summary = iam.get_account_summary()["SummaryMap"]
    assert (summary["AttachedPoliciesPerRoleQuota"], summary["AttachedPoliciesPerUserQuota"],
            summary["AssumeRolePolicySizeQuota"]) == (20, 10, 4096)


def test_quotas_stay_within_awss_bounds(srv):
    for args, words in ((("ManagedPoliciesPerUser", "21"), "between 10"), (("ManagedPoliciesPerUser", "5"), "between 10"),
                        (("Nonsense", "3"), "unknown quota"), (("ManagedPoliciesPerUser", "x"), "not a whole number")):
        result = quota(srv, "set", *args)
        assert result.returncode != 0 and words in result.stderr, (args, result.stderr)
    assert "ManagedPoliciesPerUser\t10\t" in quota(srv).stdout
