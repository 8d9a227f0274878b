"""Three `gatehouse serve` nodes on one PostgreSQL database, driven round-robin with boto3:
every change made through one node is in force on the others for the very next request, and
racing creates across nodes keep names unique and quotas. Runs where GATEHOUSE_TEST_POSTGRES_URL
names a throw-away cluster (`scripts/test` starts one); the databases it makes are dropped.
"""

import json
import os
import secrets
import subprocess
import threading

import pytest
from botocore.exceptions import ClientError

from conftest import new_server, random_account_id, unique

BASE_URL = os.environ.get("GATEHOUSE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="GATEHOUSE_TEST_POSTGRES_URL is not set "
                                                     "(scripts/test starts a PostgreSQL cluster)")


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def psql(sql):
    subprocess.run(["psql", BASE_URL, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    database = f"gatehouse_nodes_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    master_key = secrets.token_hex(32)
    account = random_account_id()
    first = new_server(tmp_path_factory, "pg0", account_id=account,
                       extra_env={"GATEHOUSE_MASTER_KEY": master_key}, extra_args=["--store", url])
    started = [first.start()]
    for i in (1, 2):
        node = new_server(tmp_path_factory, f"pg{i}", account_id=account,
                          extra_env={"GATEHOUSE_MASTER_KEY": master_key}, extra_args=["--store", url])
        node.root_key_id, node.root_secret = first.root_key_id, first.root_secret
        started.append(node.start())
    for node in started:
        node.store_url, node.master_key = url, master_key
    try:
        yield started
    finally:
        for node in started:
            if node.proc is not None:
                assert node.stop() == 0, node.stderr()
        psql(f"DROP DATABASE IF EXISTS {database}")


def test_every_change_through_one_node_is_in_force_on_the_others(nodes):
    a, b, c = (n.iam() for n in nodes)
    name = unique("alice")
    a.create_user(UserName=name)
    key = b.create_access_key(UserName=name)["AccessKey"]
    as_user = [n.iam(key["AccessKeyId"], key["SecretAccessKey"]) for n in nodes]

    # A policy put through one node allows on every node at once.
    with pytest.raises(ClientError) as e:
        as_user[2].list_users()
    assert error(e) == ("AccessDenied", 403)
    policy = c.create_policy(PolicyName=unique("p"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))["Policy"]["Arn"]
    group = a.create_group(GroupName=unique("g"))["Group"]["GroupName"]
    b.attach_group_policy(GroupName=group, PolicyArn=policy)
    c.add_user_to_group(GroupName=group, UserName=name)
    for client in as_user:
        client.list_users()

    # A new default version set through one node is in force on the others.
    a.create_policy_version(PolicyArn=policy, PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}), SetAsDefault=True)
    for client in as_user:
        with pytest.raises(ClientError) as e:
            client.list_users()
        assert error(e) == ("AccessDenied", 403)
    b.set_default_policy_version(PolicyArn=policy, VersionId="v1")
    as_user[0].list_users()

    # Removed from the group through one node: denied on the others.
    c.remove_user_from_group(GroupName=group, UserName=name)
    for client in as_user:
        with pytest.raises(ClientError) as e:
            client.list_users()
        assert error(e) == ("AccessDenied", 403)

    # A boundary put through one node holds on the others.
    a.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}))
    as_user[1].list_users()
    b.put_user_permissions_boundary(UserName=name, PermissionsBoundary="arn:aws:iam::aws:policy/ReadOnlyAccess")
    as_user[2].list_users()
    with pytest.raises(ClientError) as e:
        as_user[0].create_user(UserName=unique("nope"))
    assert error(e) == ("AccessDenied", 403)

    # A key deactivated through one node stops working on every node.
    c.update_access_key(UserName=name, AccessKeyId=key["AccessKeyId"], Status="Inactive")
    for client in as_user:
        with pytest.raises(ClientError) as e:
            client.get_user(UserName=name)
        assert error(e)[0] == "InvalidClientTokenId"


def race(calls):
    results = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i):
        barrier.wait()
        try:
            results[i] = ("ok", calls[i]())
        except ClientError as exc:
            results[i] = (exc.response["Error"]["Code"], None)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_racing_creates_across_nodes_keep_names_unique_and_quotas(nodes):
    clients = [n.iam() for n in nodes]
    name = unique("racer")
    # The same name in different letter case, through every node at once.
    spellings = [name, name.upper(), name.capitalize(), name, name.upper(), name.capitalize()]
    results = race([lambda c=clients[i % 3], n=spellings[i]: c.create_user(UserName=n) for i in range(6)])
    assert [r[0] for r in results].count("ok") == 1, results
    assert all(r[0] in ("ok", "EntityAlreadyExists") for r in results), results

    owner = unique("keys")
    clients[0].create_user(UserName=owner)
    results = race([lambda c=clients[i % 3]: c.create_access_key(UserName=owner) for i in range(6)])
    assert [r[0] for r in results].count("ok") == 2, results
    assert len(clients[1].list_access_keys(UserName=owner)["AccessKeyMetadata"]) == 2


def test_quotas_raised_on_the_database_hold_on_every_node(nodes):
    from conftest import gatehouse_bin

    node = nodes[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_ACCOUNT_ID=node.account_id, GATEHOUSE_MASTER_KEY=node.master_key)
    result = subprocess.run([str(gatehouse_bin()), "account", "quota", "set", "ManagedPoliciesPerRole", "20",
                             "--store", node.store_url, "--data-dir", str(node.data_dir)],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for n in nodes:
        assert n.iam().get_account_summary()["SummaryMap"]["AttachedPoliciesPerRoleQuota"] == 20


def test_store_check_reads_the_shared_database(nodes):
    from conftest import gatehouse_bin

    node = nodes[0]
    node.iam().create_user(UserName=unique("checked"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_ACCOUNT_ID=node.account_id, GATEHOUSE_MASTER_KEY=node.master_key)
    result = subprocess.run([str(gatehouse_bin()), "store", "check", "--store", node.store_url,
                             "--data-dir", str(node.data_dir)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "consistent" in result.stdout
    # A wrong master key is refused, as at start-up.
    env["GATEHOUSE_MASTER_KEY"] = secrets.token_hex(32)
    result = subprocess.run([str(gatehouse_bin()), "store", "check", "--store", node.store_url,
                             "--data-dir", str(node.data_dir)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def test_a_pg_dump_while_serving_restores_to_a_database_nodes_serve(nodes, tmp_path_factory):
    """The README's PostgreSQL backup, as written there: pg_dump while the nodes serve,
    pg_restore into a new database, `store check`, and a node serving it with every key."""
    from conftest import gatehouse_bin

    node = nodes[0]
    name = unique("dumped")
    node.iam().create_user(UserName=name)
    key = node.iam().create_access_key(UserName=name)["AccessKey"]
    dump = tmp_path_factory.mktemp("pgdump") / "gatehouse.dump"
    subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", node.store_url], check=True,
                   capture_output=True)
    database = f"gatehouse_restored_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    try:
        subprocess.run(["pg_restore", f"--dbname={url}", str(dump)], check=True, capture_output=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        env.update(GATEHOUSE_ACCOUNT_ID=node.account_id, GATEHOUSE_MASTER_KEY=node.master_key)
        check = subprocess.run([str(gatehouse_bin()), "store", "check", "--store", url, "--data-dir",
                                str(node.data_dir)], env=env, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        restored = new_server(tmp_path_factory, "pgrestored", account_id=node.account_id,
                              extra_env={"GATEHOUSE_MASTER_KEY": node.master_key}, extra_args=["--store", url])
        restored.root_key_id, restored.root_secret = node.root_key_id, node.root_secret
        restored.start()
        try:
            who = restored.sts(key["AccessKeyId"], key["SecretAccessKey"]).get_caller_identity()
            assert who["Arn"].endswith(f":user/{name}")
            assert name in [u["UserName"] for u in restored.iam().list_users()["Users"]]
        finally:
            assert restored.stop() == 0
    finally:
        psql(f"DROP DATABASE IF EXISTS {database}")


PG_DIR = os.environ.get("GATEHOUSE_TEST_PG_DIR")
PG_PORT = os.environ.get("GATEHOUSE_TEST_PG_PORT")
CLUSTER = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "pg-test-cluster")


@pytest.mark.skipif(not PG_DIR, reason="GATEHOUSE_TEST_PG_DIR is not set: the test cluster is not ours to stop")
def test_a_stopped_database_means_503_and_the_nodes_recover_by_themselves(nodes):
    from urllib.parse import urlencode

    node = nodes[0]
    body = urlencode({"Action": "ListUsers", "Version": "2010-05-08"})
    assert node.send(node.signed_request(body)).status == 200
    subprocess.run([CLUSTER, "stop", PG_DIR], check=True, capture_output=True)
    try:
        for _ in range(3):
            answer = node.send(node.signed_request(body))
            assert answer.status == 503, answer.text
            assert answer.error()["Code"] == "ServiceUnavailable"
        import urllib.request
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(f"{node.endpoint}/ready", timeout=30)
        assert e.value.code == 503
        assert urllib.request.urlopen(f"{node.endpoint}/health", timeout=30).status == 200
    finally:
        subprocess.run([CLUSTER, "start", PG_DIR, PG_PORT], check=True, capture_output=True)
    # Back without a restart: new connections replace the broken ones.
    for n in nodes:
        assert n.send(n.signed_request(body)).status == 200
        import urllib.request
        assert urllib.request.urlopen(f"{n.endpoint}/ready", timeout=30).status == 200


def test_a_running_embedded_installation_migrates_to_postgres(tmp_path_factory):
    """`gatehouse store migrate` copies a serving SQLite installation into an empty database and
    verifies it; a node started on that database has every entity, and keys created before the
    move still sign (their secrets stay sealed under the same master key)."""
    from conftest import gatehouse_bin

    old = new_server(tmp_path_factory, "embedded", account_id=random_account_id()).start()
    iam = old.iam()
    name = unique("moved")
    iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    policy = iam.create_policy(PolicyName=unique("p"), PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}))["Policy"]["Arn"]
    iam.attach_user_policy(UserName=name, PolicyArn=policy)
    iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/IAMReadOnlyAccess")
    master_key = (old.data_dir / "master.key").read_text().strip()

    database = f"gatehouse_migrated_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env["GATEHOUSE_ACCOUNT_ID"] = old.account_id
    migrate = [str(gatehouse_bin()), "store", "migrate", "--from", f"sqlite:{old.data_dir}", "--to", url]
    result = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "verified" in result.stdout
    # Only into an empty database.
    again = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "not empty" in again.stderr
    assert old.stop() == 0

    new = new_server(tmp_path_factory, "migrated", account_id=old.account_id,
                     extra_env={"GATEHOUSE_MASTER_KEY": master_key}, extra_args=["--store", url])
    new.root_key_id, new.root_secret = old.root_key_id, old.root_secret
    new.start()
    try:
        user = new.iam().get_user(UserName=name)["User"]
        assert user["Tags"] == [{"Key": "team", "Value": "blue"}]
        as_user = new.iam(key["AccessKeyId"], key["SecretAccessKey"])
        assert name in [u["UserName"] for u in as_user.list_users()["Users"]]
        attached = {p["PolicyArn"] for p in new.iam().list_attached_user_policies(UserName=name)["AttachedPolicies"]}
        assert attached == {policy, "arn:aws:iam::aws:policy/IAMReadOnlyAccess"}
    finally:
        assert new.stop() == 0
        psql(f"DROP DATABASE IF EXISTS {database}")
