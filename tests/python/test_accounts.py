"""Many accounts on one Gatehouse: `gatehouse account create` (while the server serves) makes
an account with its own root user, whose key is printed once; each account has its own IAM
namespace, alias, password policy and summary, and no principal of one account sees or
changes another's entities. `gatehouse account list` lists them.
"""

import json
import os
import re
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import gatehouse_bin, unique


def gatehouse(srv, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(srv.extra_env)
    env["GATEHOUSE_ACCOUNT_ID"] = srv.account_id
    store = [a for a in srv.extra_args]  # `--store URL` on the PostgreSQL pass
    return subprocess.run([str(gatehouse_bin()), *args, "--data-dir", str(srv.data_dir), *store],
                          env=env, capture_output=True, text=True, timeout=60)


def create_account(srv, *args):
    result = gatehouse(srv, "account", "create", *args)
    assert result.returncode == 0, result.stderr
    key_id = re.search(r"^aws_access_key_id = (AKIA[A-Z0-9]{16})$", result.stdout, re.M).group(1)
    secret = re.search(r"^aws_secret_access_key = (\S{40})$", result.stdout, re.M).group(1)
    account = re.search(r"^created account (\d{12})", result.stdout).group(1)
    assert secret not in result.stderr
    return account, key_id, secret


def error(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_accounts_are_separate_namespaces(server):
    a = server.iam()
    b_id, b_key, b_secret = create_account(server, "--alias", "gatehouse-team-b")
    c_id, c_key, c_secret = create_account(server, "--id", "444455556666")
    assert c_id == "444455556666" and b_id != server.account_id
    b = server.iam(b_key, b_secret)
    c = server.iam(c_key, c_secret)

    who = server.sts(b_key, b_secret).get_caller_identity()
    assert (who["Account"], who["Arn"], who["UserId"]) == (b_id, f"arn:aws:iam::{b_id}:root", b_id)

    # One name in every account: separate users with their own ARNs.
    name = unique("alice")
    arns = {client.create_user(UserName=name)["User"]["Arn"] for client in (a, b, c)}
    assert arns == {f"arn:aws:iam::{acct}:user/{name}" for acct in (server.account_id, b_id, c_id)}
    only_b = unique("only-b")
    b.create_user(UserName=only_b)
    assert only_b in [u["UserName"] for u in b.list_users()["Users"]]
    assert only_b not in [u["UserName"] for u in a.list_users()["Users"]]
    with pytest.raises(ClientError) as e:
        a.get_user(UserName=only_b)
    assert error(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        c.delete_user(UserName=only_b)
    assert error(e) == "NoSuchEntity"

    # Another account's customer managed policy cannot be attached, nor read by ARN.
    policy = b.create_policy(PolicyName=unique("b-policy"), PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))["Policy"]
    with pytest.raises(ClientError) as e:
        a.attach_user_policy(UserName=name, PolicyArn=policy["Arn"])
    assert error(e) == "NoSuchEntity"
    with pytest.raises(ClientError) as e:
        c.get_policy(PolicyArn=policy["Arn"])
    assert error(e) == "NoSuchEntity"

    # Aliases are unique across accounts; password policies and summaries are each account's.
    assert b.list_account_aliases()["AccountAliases"] == ["gatehouse-team-b"]
    with pytest.raises(ClientError) as e:
        c.create_account_alias(AccountAlias="gatehouse-team-b")
    assert error(e) == "EntityAlreadyExists"
    b.update_account_password_policy(MinimumPasswordLength=20)
    with pytest.raises(ClientError) as e:
        c.get_account_password_policy()
    assert error(e) == "NoSuchEntity"
    assert b.get_account_summary()["SummaryMap"]["Users"] == 2
    assert c.get_account_summary()["SummaryMap"]["Users"] == 1

    # A user of one account, allowed everything, still reaches only its own account.
    admin = unique("admin")
    b.create_user(UserName=admin)
    b.attach_user_policy(UserName=admin, PolicyArn=policy["Arn"])
    key = b.create_access_key(UserName=admin)["AccessKey"]
    as_admin = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        as_admin.delete_user(UserName=unique("not-here"))
    assert error(e) == "NoSuchEntity"
    assert {u["UserName"] for u in as_admin.list_users()["Users"]} == {name, only_b, admin}

    listed = gatehouse(server, "account", "list")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("\t")[0]: line.split("\t") for line in listed.stdout.splitlines()[1:]}
    assert set(rows) >= {server.account_id, b_id, c_id}
    assert rows[b_id][1] == "gatehouse-team-b" and rows[b_id][3] == "3" and rows[b_id][4] == "1"
    assert rows[c_id][1] == "-"


def test_account_create_refuses_what_aws_would_not_have(server):
    for args, why in ((["--id", server.account_id], "exists"), (["--id", "12345"], "12-digit"),
                      (["--alias", "Not_An_Alias"], "not an account alias")):
        result = gatehouse(server, "account", "create", *args)
        assert result.returncode != 0 and why in result.stderr, (args, result.stderr)
    taken = unique("taken")
    create_account(server, "--alias", taken)
    result = gatehouse(server, "account", "create", "--alias", taken)
    assert result.returncode != 0 and "taken" in result.stderr


def test_quotas_are_each_accounts_own(server):
    account, _, _ = create_account(server)
    raised = gatehouse(server, "account", "quota", "set", "RolesPerAccount", "2000", "--account", account)
    assert raised.returncode == 0, raised.stderr
    assert "RolesPerAccount\t2000" in raised.stdout
    own = gatehouse(server, "account", "quota")
    assert "RolesPerAccount\t1000" in own.stdout
    missing = gatehouse(server, "account", "quota", "--account", "999999999999")
    assert missing.returncode != 0 and "no account 999999999999" in missing.stderr


def test_sts_token_preferences_are_each_accounts_own(server):
    account, key, secret = create_account(server)
    b = server.iam(key, secret)
    assert b.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 1
    b.set_security_token_service_preferences(GlobalEndpointTokenVersion="v2Token")
    assert b.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 2
    assert server.iam().get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 1
    b.set_security_token_service_preferences(GlobalEndpointTokenVersion="v1Token")
    assert b.get_account_summary()["SummaryMap"]["GlobalEndpointTokenVersion"] == 1
