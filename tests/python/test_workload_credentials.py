"""Credentials for workloads: a workload bound to an instance profile (`gatehouse workload
bind`) gets its role's rotating credentials over the container credentials protocol, which an
unmodified boto3 started with only `AWS_CONTAINER_CREDENTIALS_FULL_URI` and the token finds by
itself, and refreshes by itself as their expiration nears (observed on the server). A wrong or
revoked token, or a role EC2 may not assume, gets nothing.
"""

import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request

import pytest

from conftest import EMPTY_CONFIG, gatehouse_bin, unique


def gatehouse(srv, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(srv.extra_env)
    env["GATEHOUSE_ACCOUNT_ID"] = srv.account_id
    return subprocess.run([str(gatehouse_bin()), *args, "--data-dir", str(srv.data_dir), *srv.extra_args],
                          env=env, capture_output=True, text=True, timeout=60)


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def bound_profile(srv, trusted="ec2.amazonaws.com", duration="900"):
    iam = srv.iam()
    role = iam.create_role(RoleName=unique("workload"), AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": trusted}, "Action": "sts:AssumeRole"}))["Role"]
    profile = unique("profile")
    iam.create_instance_profile(InstanceProfileName=profile)
    iam.add_role_to_instance_profile(InstanceProfileName=profile, RoleName=role["RoleName"])
    bound = gatehouse(srv, "workload", "bind", "--instance-profile", profile, "--duration", duration)
    assert bound.returncode == 0, bound.stderr
    lines = bound.stdout.strip().splitlines()
    workload_id = lines[0].split()[2]
    token = lines[-1]
    assert workload_id.startswith("wl-") and len(token) >= 100
    return role, workload_id, token


def fetch(srv, token):
    req = urllib.request.Request(srv.endpoint + "/gatehouse/workload-credentials",
                                 headers={"Authorization": token} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


# A workload that knows nothing but the two variables: boto3 finds the credentials itself.
WORKLOAD = textwrap.dedent("""
    import json, sys, time
    import boto3
    sts = boto3.client("sts", endpoint_url=sys.argv[1], region_name="us-east-1")
    first = sts.get_caller_identity()["Arn"]
    time.sleep(1.5)
    second = sts.get_caller_identity()["Arn"]
    print(json.dumps([first, second]))
""")


def run_workload(srv, **variables):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(EMPTY_CONFIG), AWS_SHARED_CREDENTIALS_FILE=str(EMPTY_CONFIG),
               AWS_EC2_METADATA_DISABLED="true",
               AWS_CONTAINER_CREDENTIALS_FULL_URI=srv.endpoint + "/gatehouse/workload-credentials", **variables)
    return subprocess.run([sys.executable, "-c", WORKLOAD, srv.endpoint], env=env, capture_output=True,
                          text=True, timeout=60)


def test_an_unmodified_sdk_gets_and_refreshes_its_roles_credentials(server):
    role, workload_id, token = bound_profile(server)
    issued_before = server.stderr().count("workload credentials issued")
    result = run_workload(server, AWS_CONTAINER_AUTHORIZATION_TOKEN=token)
    assert result.returncode == 0, result.stderr
    arns = json.loads(result.stdout)
    expected = f"arn:aws:sts::{server.account_id}:assumed-role/{role['RoleName']}/{workload_id}"
    assert arns == [expected, expected]
    # The credentials last 15 minutes, inside botocore's refresh window from the start: it
    # fetched fresh ones again by itself before its second call.
    assert server.stderr().count("workload credentials issued") - issued_before >= 2

    # The token may come from a file, as on ECS and EKS.
    token_file = server.data_dir.parent / "workload-token"
    token_file.write_text(token)
    result = run_workload(server, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=str(token_file))
    assert result.returncode == 0, result.stderr

    status, body = fetch(server, token)
    assert status == 200 and body["AccessKeyId"].startswith("ASIA") and body["Expiration"].endswith("Z")
    assert body["RoleArn"] == role["Arn"]
    creds = server.client("sts", body["AccessKeyId"], body["SecretAccessKey"], session_token=body["Token"])
    assert creds.get_caller_identity()["Arn"] == expected


def test_a_wrong_or_revoked_token_or_an_untrusting_role_gets_nothing(server):
    _, workload_id, token = bound_profile(server)
    for wrong in (None, token[:-1] + ("A" if token[-1] != "A" else "B"), "x"):
        status, body = fetch(server, wrong)
        assert status in (401, 403) and body["code"] == "AccessDenied", (wrong, body)
    listed = gatehouse(server, "workload", "list")
    assert workload_id in listed.stdout
    revoked = gatehouse(server, "workload", "revoke", workload_id)
    assert revoked.returncode == 0, revoked.stderr
    assert fetch(server, token)[0] == 403
    assert workload_id not in gatehouse(server, "workload", "list").stdout

    # A role that trusts another service than EC2 is not handed to a workload.
    _, _, lambda_token = bound_profile(server, trusted="lambda.amazonaws.com")
    assert fetch(server, lambda_token)[0] == 403
    missing = gatehouse(server, "workload", "bind", "--instance-profile", unique("no-such-profile"))
    assert missing.returncode != 0 and "no instance profile" in missing.stderr
