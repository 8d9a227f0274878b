"""`gatehouse store backup` takes a consistent copy of the embedded store while it serves (also
in the middle of a stream of writes: every write acknowledged before it began is in it), and
`gatehouse store restore` turns it into a new data directory that serves exactly the state of
the backup (keys made before it still sign: their secrets stay sealed under the same key).
"""

import os
import subprocess

from conftest import gatehouse_bin, new_server, random_account_id, unique


def run(*args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(env_extra or {})
    return subprocess.run([str(gatehouse_bin()), *args], env=env, capture_output=True, text=True, timeout=120)


def test_an_online_backup_restores_to_its_moment(tmp_path_factory):
    srv = new_server(tmp_path_factory, "backedup", account_id=random_account_id()).start()
    iam = srv.iam()
    before = unique("before")
    iam.create_user(UserName=before)
    key = iam.create_access_key(UserName=before)["AccessKey"]
    iam.put_user_policy(UserName=before, PolicyName="list", PolicyDocument=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:ListUsers","Resource":"*"}]}'))

    backup = tmp_path_factory.mktemp("backups") / "gatehouse.backup"
    result = run("store", "backup", "--to", str(backup), "--data-dir", str(srv.data_dir))
    assert result.returncode == 0, result.stderr
    again = run("store", "backup", "--to", str(backup), "--data-dir", str(srv.data_dir))
    assert again.returncode != 0 and "exists" in again.stderr
    after = unique("after")
    iam.create_user(UserName=after)  # written after the backup: not in it
    master_key = (srv.data_dir / "master.key").read_text().strip()
    assert srv.stop() == 0

    restored_dir = tmp_path_factory.mktemp("restored") / "data"
    env = {"GATEHOUSE_ACCOUNT_ID": srv.account_id}
    wrong = run("store", "restore", "--from", str(backup), "--data-dir", str(restored_dir),
                env_extra={**env, "GATEHOUSE_MASTER_KEY": "ab" * 32})
    assert wrong.returncode != 0, "a backup opened with another master key must be refused"
    assert not (restored_dir / "gatehouse.db").exists()
    result = run("store", "restore", "--from", str(backup), "--data-dir", str(restored_dir),
                 env_extra={**env, "GATEHOUSE_MASTER_KEY": master_key})
    assert result.returncode == 0, result.stderr
    taken = run("store", "restore", "--from", str(backup), "--data-dir", str(restored_dir),
                env_extra={**env, "GATEHOUSE_MASTER_KEY": master_key})
    assert taken.returncode != 0 and "exists" in taken.stderr

    restored = new_server(tmp_path_factory, "restoredsrv", account_id=srv.account_id,
                          extra_env={"GATEHOUSE_MASTER_KEY": master_key})
    restored.data_dir = restored_dir
    restored.root_key_id, restored.root_secret = srv.root_key_id, srv.root_secret
    restored.start()
    try:
        names = [u["UserName"] for u in restored.iam().list_users()["Users"]]
        assert before in names and after not in names
        as_user = restored.iam(key["AccessKeyId"], key["SecretAccessKey"])
        assert before in [u["UserName"] for u in as_user.list_users()["Users"]]
        check = run("store", "check", "--data-dir", str(restored_dir),
                    env_extra={**env, "GATEHOUSE_MASTER_KEY": master_key})
        assert check.returncode == 0, check.stderr
    finally:
        assert restored.stop() == 0


def test_a_backup_during_a_stream_of_writes_holds_every_write_acknowledged_before_it(tmp_path_factory):
    import threading
    import time

    srv = new_server(tmp_path_factory, "streamed", account_id=random_account_id()).start()
    acknowledged = []  # (time the response arrived, user name)
    stop = threading.Event()
    failures = []

    def writer():
        client = srv.iam()
        i = 0
        while not stop.is_set():
            name = f"stream-{i}"
            try:
                client.create_user(UserName=name)
                acknowledged.append((time.monotonic(), name))
            except Exception as e:  # noqa: BLE001 - any failure fails the test below
                failures.append(repr(e))
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(1.0)
        backup = tmp_path_factory.mktemp("streambackups") / "gatehouse.backup"
        began = time.monotonic()
        result = run("store", "backup", "--to", str(backup), "--data-dir", str(srv.data_dir))
        assert result.returncode == 0, result.stderr
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not failures, failures[:3]
    before = {name for at, name in acknowledged if at < began}
    assert len(before) > 20, len(before)
    master_key = (srv.data_dir / "master.key").read_text().strip()
    root = (srv.root_key_id, srv.root_secret)
    assert srv.stop() == 0

    restored_dir = tmp_path_factory.mktemp("streamrestored") / "data"
    env = {"GATEHOUSE_ACCOUNT_ID": srv.account_id, "GATEHOUSE_MASTER_KEY": master_key}
    result = run("store", "restore", "--from", str(backup), "--data-dir", str(restored_dir), env_extra=env)
    assert result.returncode == 0, result.stderr
    check = run("store", "check", "--data-dir", str(restored_dir), env_extra=env)
    assert check.returncode == 0, check.stderr
    restored = new_server(tmp_path_factory, "streamrestoredsrv", account_id=srv.account_id,
                          extra_env={"GATEHOUSE_MASTER_KEY": master_key})
    restored.data_dir = restored_dir
    restored.root_key_id, restored.root_secret = root
    restored.start()
    try:
        names = {u["UserName"] for page in restored.iam().get_paginator("list_users").paginate()
                 for u in page["Users"]}
        assert before <= names, sorted(before - names)[:5]
        assert names <= {name for _, name in acknowledged}, "nothing that was never written"
    finally:
        assert restored.stop() == 0
