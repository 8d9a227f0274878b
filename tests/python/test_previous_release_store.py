"""Rolling upgrades: a store written by the previous release (the committed fixture under
tests/fixtures/, made by its `gatehouse serve`; see make_store_fixture.py) is served by this
one with nothing lost: entities, policies in force, every access key, the sealed secrets. It
is also copied into PostgreSQL and served from there, and its master key rotated.
"""

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import REPO, gatehouse_bin, new_server

FIXTURES = sorted((REPO / "tests" / "fixtures").glob("store-*"))
PG_URL = os.environ.get("GATEHOUSE_TEST_POSTGRES_URL")


def gatehouse(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    return subprocess.run([str(gatehouse_bin()), *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=300)


def serve_fixture(tmp_path_factory, fixture: Path, name: str, env=None, extra_args=()):
    expected = json.loads((fixture / "expected.json").read_text())
    srv = new_server(tmp_path_factory, name, account_id=expected["account"],
                     extra_env=env or {"GATEHOUSE_MASTER_KEY": expected["master_key"]},
                     extra_args=list(extra_args))
    srv.root_key_id, srv.root_secret = expected["root_key"], expected["root_secret"]
    if "--store" not in extra_args:
        srv.data_dir.mkdir(parents=True, mode=0o700)
        shutil.copy(fixture / "gatehouse.db", srv.data_dir / "gatehouse.db")
    return srv.start(), expected


def assert_serves(srv, expected):
    iam = srv.iam()
    assert sorted(u["UserName"] for u in iam.list_users()["Users"]) == expected["users"]
    assert sorted(g["GroupName"] for g in iam.list_groups()["Groups"]) == expected["groups"]
    assert sorted(r["RoleName"] for r in iam.list_roles()["Roles"]) == expected["roles"]
    assert sorted(p["Arn"] for p in iam.list_policies(Scope="Local")["Policies"]) == expected["local_policies"]
    policy = iam.get_policy(PolicyArn=expected["reader_policy"])["Policy"]
    assert policy["DefaultVersionId"] == expected["reader_default_version"]
    assert iam.list_account_aliases()["AccountAliases"] == expected["alias"]
    summary = iam.get_account_summary()["SummaryMap"]
    for name in ("Users", "Groups", "Roles", "Policies", "InstanceProfiles", "PolicyVersionsInUse"):
        assert summary[name] == expected["summary"][name], name
    assert iam.get_user(UserName="alice")["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == \
        expected["reader_policy"]
    assert iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"] == 7200
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] == 12

    # Every key authenticates with its secret, and the policies stored then are in force now.
    alice = srv.iam(expected["keys"]["alice"]["AccessKeyId"], expected["keys"]["alice"]["SecretAccessKey"])
    alice.list_groups()  # the group's managed policy, version 2
    with pytest.raises(ClientError) as e:
        alice.list_roles()  # the group's inline policy allows, alice's boundary does not
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    bob = srv.iam(expected["keys"]["bob"]["AccessKeyId"], expected["keys"]["bob"]["SecretAccessKey"])
    with pytest.raises(ClientError) as e:
        bob.delete_user(UserName="alice")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="bob")["AccessKeyMetadata"]}
    assert statuses[expected["keys"]["bob_inactive"]] == "Inactive"
    # Secrets sealed by the previous release open: a reset re-seals the service password.
    reset = iam.reset_service_specific_credential(
        UserName="alice", ServiceSpecificCredentialId=expected["service_credential_id"])
    assert reset["ServiceSpecificCredential"]["ServicePassword"]


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_the_previous_release_store_is_served_and_rotates(tmp_path_factory, fixture):
    srv, expected = serve_fixture(tmp_path_factory, fixture, "prevrelease")
    try:
        assert_serves(srv, expected)
        # A new key made now opens too, beside the old ones.
        new = srv.iam().create_access_key(UserName="alice")
    finally:
        assert srv.stop() == 0, srv.stderr()
    env = {"GATEHOUSE_MASTER_KEY": expected["master_key"], "GATEHOUSE_ACCOUNT_ID": expected["account"]}
    check = gatehouse("store", "check", "--data-dir", str(srv.data_dir), env=env)
    assert check.returncode == 0, check.stderr

    # The previous release's secrets (sealed before values named their key) rotate like any.
    next_key = secrets.token_hex(32)
    rotated = gatehouse("master-key", "rotate", "--data-dir", str(srv.data_dir),
                        env={**env, "GATEHOUSE_MASTER_KEY_NEXT": next_key})
    assert rotated.returncode == 0, rotated.stderr
    srv.extra_env = {"GATEHOUSE_MASTER_KEY": next_key}
    srv.start()
    try:
        assert_serves(srv, expected)
        key = new["AccessKey"]
        srv.iam(key["AccessKeyId"], key["SecretAccessKey"]).list_groups()
    finally:
        assert srv.stop() == 0, srv.stderr()


@pytest.mark.skipif(not PG_URL, reason="GATEHOUSE_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.name for f in FIXTURES])
def test_the_previous_release_store_moves_to_postgres(tmp_path_factory, fixture):
    expected = json.loads((fixture / "expected.json").read_text())
    source = tmp_path_factory.mktemp("prevsource")
    shutil.copy(fixture / "gatehouse.db", source / "gatehouse.db")
    database = f"gatehouse_prev_{secrets.token_hex(4)}"
    subprocess.run(["psql", PG_URL, "-qc", f"CREATE DATABASE {database}"], check=True, capture_output=True)
    url = PG_URL.rsplit("/", 1)[0] + "/" + database
    try:
        env = {"GATEHOUSE_MASTER_KEY": expected["master_key"], "GATEHOUSE_ACCOUNT_ID": expected["account"]}
        moved = gatehouse("store", "migrate", "--from", f"sqlite:{source}", "--to", url, env=env)
        assert moved.returncode == 0, moved.stderr
        srv, _ = serve_fixture(tmp_path_factory, fixture, "prevpg", extra_args=["--store", url])
        try:
            assert_serves(srv, expected)
        finally:
            assert srv.stop() == 0, srv.stderr()
    finally:
        subprocess.run(["psql", PG_URL, "-qc", f"DROP DATABASE IF EXISTS {database}"], capture_output=True)
