"""Without a configured root key, the first start generates one and writes it once to
DATA_DIR/root-credentials (mode 0600, aws credentials-file format); it works with the CLI,
never appears in the server's output, and survives restarts unchanged."""

import configparser
import os
import stat
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import gatehouse_bin, new_server, random_access_key_id, random_secret


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    srv = new_server(tmp_path_factory, "rootcreds", with_root_key=False,
                     extra_env={"GATEHOUSE_LOG": "trace"})
    srv.start()
    creds_file = srv.data_dir / "root-credentials"
    parser = configparser.ConfigParser()
    assert creds_file.is_file(), f"{creds_file} was not written"
    parser.read(creds_file)
    srv.root_key_id = parser["default"]["aws_access_key_id"]
    srv.root_secret = parser["default"]["aws_secret_access_key"]
    try:
        yield srv
    finally:
        if srv.proc is not None:
            assert srv.stop() == 0, srv.stderr()


def test_file_is_private_and_well_formed(generated):
    path = generated.data_dir / "root-credentials"
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, oct(mode)
    parser = configparser.ConfigParser()
    parser.read(path)
    assert parser.sections() == ["default"]
    assert set(parser["default"]) == {"aws_access_key_id", "aws_secret_access_key"}
    assert generated.root_key_id.startswith("AKIA") and len(generated.root_key_id) == 20
    assert len(generated.root_secret) == 40


def test_cli_works_with_the_file(generated):
    path = generated.data_dir / "root-credentials"
    ident = generated.cli("sts", "get-caller-identity", credentials_file=path)
    assert ident["Arn"] == f"arn:aws:iam::{generated.account_id}:root"
    assert ident["Account"] == generated.account_id
    assert ident["UserId"] == generated.account_id
    created = generated.cli("iam", "create-user", "--user-name", "made-by-root", credentials_file=path)
    assert created["User"]["UserName"] == "made-by-root"
    # The root key is one of root's access keys, as in AWS.
    keys = generated.cli("iam", "list-access-keys", credentials_file=path)["AccessKeyMetadata"]
    assert generated.root_key_id in [k["AccessKeyId"] for k in keys]


def test_wrong_secret_for_the_generated_key_is_refused(generated):
    code, _ = generated.cli_error("sts", "get-caller-identity", key_id=generated.root_key_id, secret="y" * 40)
    assert code == "SignatureDoesNotMatch"


def test_restart_keeps_the_key_and_the_file(generated):
    path = generated.data_dir / "root-credentials"
    before = os.stat(path)
    content = path.read_bytes()
    assert generated.stop() == 0, generated.stderr()
    generated.start()
    after = os.stat(path)
    assert path.read_bytes() == content
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert stat.S_IMODE(after.st_mode) == 0o600
    ident = generated.cli("sts", "get-caller-identity", credentials_file=path)
    assert ident["Arn"] == f"arn:aws:iam::{generated.account_id}:root"
    # State from before the restart is still there.
    assert generated.iam().get_user(UserName="made-by-root")["User"]["UserName"] == "made-by-root"


def test_secret_never_in_server_output(generated):
    # Runs last in this module: stop the server so everything it wrote is flushed.
    if generated.proc is not None:
        assert generated.stop() == 0
    out, err = generated.stdout(), generated.stderr()
    assert generated.root_secret not in out
    assert generated.root_secret not in err
    assert out.count("gatehouse listening on") == generated.starts


def test_configured_key_must_come_in_pairs(tmp_path_factory):
    srv = new_server(tmp_path_factory, "halfkey", with_root_key=False,
                     extra_env={"GATEHOUSE_ROOT_ACCESS_KEY_ID": "AKIAHALFHALFHALFHALF"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(srv.extra_env)
    result = subprocess.run([str(gatehouse_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir",
                             str(srv.data_dir)], env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode != 0
    assert "GATEHOUSE_ROOT_SECRET_ACCESS_KEY" in result.stderr
    assert not (srv.data_dir / "root-credentials").exists()


def test_replacing_the_configured_root_key_revokes_the_old_one(tmp_path_factory):
    srv = new_server(tmp_path_factory, "rootswap")
    old_key, old_secret = srv.root_key_id, srv.root_secret
    srv.start()
    try:
        assert srv.sts().get_caller_identity()["Arn"].endswith(":root")
    finally:
        assert srv.stop() == 0, srv.stderr()
    srv.root_key_id, srv.root_secret = random_access_key_id(), random_secret()
    srv.start()
    try:
        assert srv.sts().get_caller_identity()["Arn"] == f"arn:aws:iam::{srv.account_id}:root"
        with pytest.raises(ClientError) as e:
            srv.sts(old_key, old_secret).get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        assert not (srv.data_dir / "root-credentials").exists()
    finally:
        assert srv.stop() == 0, srv.stderr()
