"""`gatehouse master-key rotate` while two nodes on one PostgreSQL database serve: phase 1
restarts each node with both keys (one at a time, the other serving), phase 2 re-seals every
secret. Throughout, a stream of requests signed with keys made before and during the rotation
sees no failure; afterwards every key authenticates, the old key opens no stored secret, and
a node given only the old key refuses to start.
"""

import json
import os
import secrets
import subprocess
import threading
import time

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from conftest import gatehouse_bin, new_server, random_account_id, serve_must_fail, unique

BASE_URL = os.environ.get("GATEHOUSE_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not BASE_URL, reason="GATEHOUSE_TEST_POSTGRES_URL is not set "
                                                     "(scripts/test starts a PostgreSQL cluster)")


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True,
                         capture_output=True, text=True)
    return out.stdout


def gatehouse(*args, env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    return subprocess.run([str(gatehouse_bin()), *args], env={**clean, **env}, capture_output=True,
                          text=True, timeout=300)


class Load:
    """Requests in a loop against whichever nodes are up: reads signed by long-lived keys, and
    keys created, used and deleted (each a seal and an open)."""

    def __init__(self, nodes, user, churn, keys):
        self.nodes, self.user, self.churn, self.keys = nodes, user, churn, keys
        self.up = list(nodes)
        self.lock = threading.Lock()
        self.failures, self.calls, self.created, self.clients = [], 0, [], {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)

    def take_down(self, node):
        # Waits for the iteration in flight: no request is sent to a node being stopped.
        with self.lock:
            self.up.remove(node)

    def bring_up(self, node):
        with self.lock:
            self.up.append(node)

    def client(self, node, key=None):
        """boto3 clients are slow to make: one per node, port and key."""
        name = (node.endpoint, key["AccessKeyId"] if key else None)
        if name not in self.clients:
            self.clients[name] = node.iam(key["AccessKeyId"], key["SecretAccessKey"]) if key else node.iam()
        return self.clients[name]

    def run(self):
        i = 0
        while not self.stopping.is_set():
            with self.lock:
                node = self.up[i % len(self.up)]
                i += 1
                try:
                    key = self.keys[i % len(self.keys)]
                    self.client(node, key).get_user(UserName=self.user)
                    made = self.client(node).create_access_key(UserName=self.churn)["AccessKey"]
                    node.iam(made["AccessKeyId"], made["SecretAccessKey"]).get_user(UserName=self.user)
                    self.created.append(made)
                    if len(self.created) > 1:
                        old = self.created.pop(0)
                        self.client(node).delete_access_key(UserName=self.churn,
                                                            AccessKeyId=old["AccessKeyId"])
                    self.calls += 4
                except Exception as e:  # noqa: BLE001 - every failure is the finding
                    self.failures.append(f"{node.endpoint}: {e!r}")
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(timeout=60)


def test_rotation_under_load_fails_no_request_and_retires_the_old_key(tmp_path_factory):
    database = f"gatehouse_rotation_{secrets.token_hex(4)}"
    psql(BASE_URL, f"CREATE DATABASE {database}")
    url = BASE_URL.rsplit("/", 1)[0] + "/" + database
    old, new = secrets.token_hex(32), secrets.token_hex(32)
    account = random_account_id()
    nodes = []
    for i in range(2):
        node = new_server(tmp_path_factory, f"rot{i}", account_id=account,
                          extra_env={"GATEHOUSE_MASTER_KEY": old}, extra_args=["--store", url])
        if nodes:
            node.root_key_id, node.root_secret = nodes[0].root_key_id, nodes[0].root_secret
        nodes.append(node.start())
    try:
        a, b = nodes
        iam = a.iam()
        user = unique("worker")
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))
        keys = [iam.create_access_key(UserName=user)["AccessKey"]]
        other = unique("other")
        iam.create_user(UserName=other)
        keys.append(iam.create_access_key(UserName=other)["AccessKey"])
        iam.put_user_policy(UserName=other, PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))
        churn = unique("churn")
        iam.create_user(UserName=churn)
        iam.put_user_policy(UserName=churn, PolicyName="read", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}))
        credential = iam.create_service_specific_credential(
            UserName=user, ServiceName="codecommit.amazonaws.com")["ServiceSpecificCredential"]

        with Load(nodes, user, churn, keys) as load:
            # Phase 1: each node restarts given both keys while the other serves.
            for node in nodes:
                load.take_down(node)
                time.sleep(0.3)
                assert node.stop() == 0, node.stderr()
                node.extra_env = {"GATEHOUSE_MASTER_KEY": old, "GATEHOUSE_MASTER_KEY_NEXT": new}
                node.start()
                load.bring_up(node)
                time.sleep(0.5)
            # Phase 2, with both nodes serving.
            rotated = gatehouse("master-key", "rotate", "--store", url, "--data-dir", str(a.data_dir),
                                env={"GATEHOUSE_MASTER_KEY": old, "GATEHOUSE_MASTER_KEY_NEXT": new,
                                     "GATEHOUSE_ACCOUNT_ID": account})
            assert rotated.returncode == 0, rotated.stderr
            assert "every secret is now sealed" in rotated.stdout
            time.sleep(1)
            # Then each node restarts with the new key alone.
            for node in nodes:
                load.take_down(node)
                time.sleep(0.3)
                assert node.stop() == 0, node.stderr()
                node.extra_env = {"GATEHOUSE_MASTER_KEY": new}
                node.start()
                load.bring_up(node)
                time.sleep(0.5)
        assert load.failures == [], "\n".join(load.failures[:6])
        assert load.calls > 100, load.calls

        # Every key, made before or during the rotation, authenticates on both nodes.
        for node in nodes:
            for key in [*keys, *load.created]:
                node.iam(key["AccessKeyId"], key["SecretAccessKey"]).get_user(UserName=user)
        # The service credential's password is still sealed (and resettable).
        reset = a.iam().reset_service_specific_credential(
            UserName=user, ServiceSpecificCredentialId=credential["ServiceSpecificCredentialId"])
        assert reset["ServiceSpecificCredential"]["ServicePassword"]

        # The old key opens no stored secret: every access key's sealed secret fails to decrypt
        # under it (AES-256-GCM, the key id as associated data), and none names it.
        rows = psql(url, "SELECT convert_from(value, 'UTF8') FROM gatehouse_kv WHERE tbl = 'access_keys'")
        records = [json.loads(line) for line in rows.splitlines() if line]
        assert len(records) >= 4
        old_cipher = AESGCM(bytes.fromhex(old))
        new_ids = set()
        for record in records:
            key_id, sealed = record["sealed_secret"].split(":", 1)
            new_ids.add(key_id)
            raw = bytes.fromhex(sealed)
            with pytest.raises(InvalidTag):
                old_cipher.decrypt(raw[:12], raw[12:], record["id"].encode())
            secret = AESGCM(bytes.fromhex(new)).decrypt(raw[:12], raw[12:], record["id"].encode())
            assert len(secret) == 40
        assert len(new_ids) == 1

        # A node given only the old key refuses to start, naming the key ids.
        stale = new_server(tmp_path_factory, "rotstale", account_id=account,
                           extra_env={"GATEHOUSE_MASTER_KEY": old}, extra_args=["--store", url])
        stale.root_key_id, stale.root_secret = a.root_key_id, a.root_secret
        refused = serve_must_fail(stale)
        assert refused.returncode != 0
        assert f"sealed under master key {new_ids.pop()}" in refused.stderr, refused.stderr

        check = gatehouse("store", "check", "--store", url, "--data-dir", str(a.data_dir),
                          env={"GATEHOUSE_MASTER_KEY": new, "GATEHOUSE_ACCOUNT_ID": account})
        assert check.returncode == 0, check.stderr
    finally:
        for node in nodes:
            if node.proc is not None:
                node.stop()
        psql(BASE_URL, f"DROP DATABASE IF EXISTS {database}")
