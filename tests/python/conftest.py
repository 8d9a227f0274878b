"""End-to-end fixtures: a real `gatehouse serve` process per test module, boto3 clients and the
unmodified `aws` CLI pointed at it.

The binary is never built from here: build it with `cargo build -p gatehouse` first, or point
`GATEHOUSE_BIN` at one.
"""

import json
import os
import re
import secrets
import shutil
import signal
import string
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
LISTEN_LINE = re.compile(r"^gatehouse listening on (http://127\.0\.0\.1:(\d+))$")
START_TIMEOUT = 5.0
STOP_TIMEOUT = 15.0

# Keep the host's AWS configuration out of every client and CLI run: empty config and
# credentials files, and no AWS_* variable from the environment pytest was started in.
_AWS_HOME = Path(tempfile.mkdtemp(prefix="gatehouse-aws-home-"))
EMPTY_CONFIG = _AWS_HOME / "config"
EMPTY_CREDENTIALS = _AWS_HOME / "credentials"
EMPTY_CONFIG.write_text("")
EMPTY_CREDENTIALS.write_text("")
for _name in [n for n in os.environ if n.startswith("AWS_")]:
    del os.environ[_name]
os.environ["AWS_CONFIG_FILE"] = str(EMPTY_CONFIG)
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(EMPTY_CREDENTIALS)
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def pytest_sessionstart(session):
    """Stop at once, with one clear line, when there is no server binary to test."""
    path = Path(os.environ.get("GATEHOUSE_BIN") or REPO / "target" / "debug" / "gatehouse")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(f"gatehouse binary not found at {path}: run `cargo build -p gatehouse` first "
                    "or set GATEHOUSE_BIN to an executable", returncode=1)


def gatehouse_bin() -> Path:
    path = Path(os.environ.get("GATEHOUSE_BIN") or REPO / "target" / "debug" / "gatehouse")
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(
            f"gatehouse binary not found at {path}: run `cargo build -p gatehouse` first "
            "or set GATEHOUSE_BIN to an executable",
            pytrace=False,
        )
    return path


def random_access_key_id() -> str:
    alphabet = string.ascii_uppercase + "234567"
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def random_account_id() -> str:
    return str(100000000000 + secrets.randbelow(900000000000))


def random_secret() -> str:
    alphabet = string.ascii_letters + string.digits + "+/"
    return "".join(secrets.choice(alphabet) for _ in range(40))


@dataclass(repr=False)
class Server:
    """One `gatehouse serve` process and how to reach it."""

    def __repr__(self):
        return f"Server({self.endpoint or 'not started'}, data_dir={self.data_dir})"

    data_dir: Path
    log_dir: Path
    root_key_id: str | None = None
    root_secret: str | None = None
    account_id: str = ACCOUNT_ID
    extra_env: dict = field(default_factory=dict)
    extra_args: list = field(default_factory=list)  # appended to the `serve` command line
    proc: subprocess.Popen | None = None
    endpoint: str = ""
    port: int = 0
    starts: int = 0

    @property
    def stdout_path(self) -> Path:
        return self.log_dir / f"stdout.{self.starts}"

    @property
    def stderr_path(self) -> Path:
        return self.log_dir / f"stderr.{self.starts}"

    def start(self) -> "Server":
        assert self.proc is None, "already running"
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
        env["GATEHOUSE_ACCOUNT_ID"] = self.account_id
        if self.root_key_id is not None:
            env["GATEHOUSE_ROOT_ACCESS_KEY_ID"] = self.root_key_id
            env["GATEHOUSE_ROOT_SECRET_ACCESS_KEY"] = self.root_secret
        env.update(self.extra_env)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [str(gatehouse_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
                 *map(str, self.extra_args)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = self.stdout_path.read_text(errors="replace")
            lines = text.splitlines()
            if lines and text.endswith("\n"):
                m = LISTEN_LINE.match(lines[0])
                assert m, f"unexpected first stdout line: {lines[0]!r}"
                assert len(lines) == 1, f"more than one stdout line: {lines!r}"
                self.endpoint, self.port = m.group(1), int(m.group(2))
                return self
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                pytest.fail(f"gatehouse exited with {code} before listening; stderr:\n{self.stderr()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"gatehouse did not print its listening line within {START_TIMEOUT} s; stderr:\n"
                            f"{self.stderr()}")
            time.sleep(0.02)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None, "not running"
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"gatehouse did not stop within {STOP_TIMEOUT} s of SIGTERM")

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def stdout(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("stdout.*")))

    def stderr(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("stderr.*")))

    # Clients.

    def client(self, service: str, key_id: str | None = None, secret: str | None = None,
               session_token: str | None = None, **config):
        """A boto3 client for `service`, as root unless another key is given (with its session
        token, for temporary credentials). No retries."""
        cfg = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30, **config)
        return boto3.session.Session().client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key_id or self.root_key_id,
            aws_secret_access_key=secret or self.root_secret,
            aws_session_token=session_token,
            config=cfg,
        )

    def iam(self, key_id=None, secret=None):
        return self.client("iam", key_id, secret)

    def sts(self, key_id=None, secret=None):
        return self.client("sts", key_id, secret)

    def cli(self, *args, key_id=None, secret=None, credentials_file=None, check=True, timeout=60):
        """Runs `aws --endpoint-url … --region us-east-1 --output json ARGS`.

        With `check` (default) a non-zero exit fails the test and the parsed JSON output is
        returned (None for empty output); without it the CompletedProcess is returned.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_CONFIG_FILE"] = str(EMPTY_CONFIG)
        env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials_file or EMPTY_CREDENTIALS)
        env["AWS_EC2_METADATA_DISABLED"] = "true"
        env["AWS_PAGER"] = ""
        if credentials_file is None:
            env["AWS_ACCESS_KEY_ID"] = key_id or self.root_key_id
            env["AWS_SECRET_ACCESS_KEY"] = secret or self.root_secret
        cmd = [aws_cli_path(), "--endpoint-url", self.endpoint, "--region", REGION, "--output", "json", *args]
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if not check:
            return result
        assert result.returncode == 0, (
            f"{' '.join(args)} exited {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
        )
        return json.loads(result.stdout) if result.stdout.strip() else None

    def cli_error(self, *args, **kwargs):
        """Runs a CLI command that must fail; returns (code, message) from its stderr."""
        result = self.cli(*args, check=False, **kwargs)
        assert result.returncode != 0, f"{' '.join(args)} succeeded: {result.stdout}"
        m = re.search(r"An error occurred \((\w+)\) when calling the (\w+) operation: (.*)", result.stderr)
        assert m, f"no AWS error in stderr: {result.stderr!r}"
        return m.group(1), m.group(3).strip()

    # Raw HTTP.

    def signed_request(self, body: bytes | str, service: str = "iam", key_id=None, secret=None,
                       content_type="application/x-www-form-urlencoded; charset=utf-8", headers=None):
        """An AWSRequest POST to `/` with `body`, signed with SigV4 for `service`."""
        if isinstance(body, str):
            body = body.encode()
        hdrs = {"Content-Type": content_type}
        hdrs.update(headers or {})
        req = AWSRequest(method="POST", url=self.endpoint + "/", data=body, headers=hdrs)
        creds = Credentials(key_id or self.root_key_id, secret or self.root_secret)
        SigV4Auth(creds, service, REGION).add_auth(req)
        return req

    def send(self, req: AWSRequest, source_address: str | None = None) -> "RawResponse":
        return raw_send(self.port, req.method, "/", dict(req.headers.items()), req.body or b"",
                        source_address=source_address)

    def store_dump(self) -> dict:
        """Every row of the store, read straight from its SQLite file (not through Gatehouse),
        except last-used dates, which every authenticated request records, as AWS does."""
        import sqlite3

        db = sqlite3.connect(f"file:{self.data_dir / 'gatehouse.db'}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT tbl, key, value FROM kv WHERE tbl != 'key_last_used'").fetchall()
        finally:
            db.close()
        return {(tbl, key): bytes(value) for tbl, key, value in rows}


def cli_with_profile(srv: "Server", tmp_path: Path, profile: str, profile_settings: dict, key: dict,
                     *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Runs the aws CLI as `--profile PROFILE`, a profile with `profile_settings` (such as
    `role_arn`, `mfa_serial`) whose `source_profile` holds `key`'s long-term credentials. Both
    profiles set `endpoint_url`, so the CLI's own STS calls go to Gatehouse. Without a terminal
    (a new session), the CLI reads what it prompts for from `stdin`."""
    endpoint = f"endpoint_url = {srv.endpoint}\nregion = {REGION}\n"
    settings = "".join(f"{k} = {v}\n" for k, v in profile_settings.items())
    config = tmp_path / "config"
    config.write_text(f"[profile base]\n{endpoint}\n[profile {profile}]\n{settings}source_profile = base\n{endpoint}")
    credentials = tmp_path / "credentials"
    credentials.write_text(f"[base]\naws_access_key_id = {key['AccessKeyId']}\n"
                           f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials),
               AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="")
    return subprocess.run([aws_cli_path(), "--profile", profile, "--output", "json", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=60, start_new_session=True)


def aws_cli_path() -> str:
    path = shutil.which("aws")
    if path is None:
        pytest.fail("the aws CLI (v1, `pip install awscli`) is not on PATH", pytrace=False)
    return path


@dataclass
class RawResponse:
    status: int
    headers: dict
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def error(self) -> dict:
        """Type/Code/Message/RequestId of an `<ErrorResponse>`; fails on anything else."""
        root = self.xml()
        assert strip_ns(root.tag) == "ErrorResponse", self.body
        err = {strip_ns(child.tag): child.text or "" for child in find_child(root, "Error")}
        err["RequestId"] = find_child(root, "RequestId").text
        return err


def strip_ns(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def find_child(elem: ET.Element, name: str) -> ET.Element:
    for child in elem:
        if strip_ns(child.tag) == name:
            return child
    raise AssertionError(f"no <{name}> in <{strip_ns(elem.tag)}>: {ET.tostring(elem)!r}")


def raw_send(port: int, method: str, path: str, headers: dict, body: bytes, timeout=30,
             source_address: str | None = None) -> RawResponse:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source_address, 0) if source_address else None)
    try:
        conn.putrequest(method, path, skip_host="host" in {k.lower() for k in headers},
                        skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if "content-length" not in {k.lower() for k in headers}:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (and close) before reading a body it refuses.
            pass
        resp = conn.getresponse()
        return RawResponse(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def postgres_store(name: str) -> tuple[list, dict]:
    """With GATEHOUSE_E2E_STORE=postgres (scripts/test sets it for a second pass of a subset),
    every server keeps its state in a fresh database of the test cluster: the `serve` arguments
    and environment for that."""
    if os.environ.get("GATEHOUSE_E2E_STORE") != "postgres":
        return [], {}
    base = os.environ["GATEHOUSE_TEST_POSTGRES_URL"]
    database = f"gatehouse_e2e_{name.replace('-', '_')}_{secrets.token_hex(4)}".lower()
    subprocess.run(["psql", base, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {database}"],
                   check=True, capture_output=True)
    url = base.rsplit("/", 1)[0] + "/" + database
    # The test cluster speaks TLS with a throw-away CA: every server of the subset connects
    # with the certificate and its name verified, as a production deployment should.
    ca = os.path.join(os.environ.get("GATEHOUSE_TEST_PG_DIR", ""), "ca.pem")
    if os.path.exists(ca):
        url += f"?sslmode=verify-full&sslrootcert={ca}"
    return ["--store", url], {"GATEHOUSE_MASTER_KEY": secrets.token_hex(32)}


def new_server(tmp_path_factory, name: str, with_root_key: bool = True, **kwargs) -> Server:
    base = tmp_path_factory.mktemp(name)
    store_args, store_env = postgres_store(name)
    if store_args and "--store" not in kwargs.get("extra_args", []):
        kwargs["extra_args"] = [*store_args, *kwargs.get("extra_args", [])]
        kwargs["extra_env"] = {**store_env, **kwargs.get("extra_env", {})}
    server = Server(data_dir=base / "data", log_dir=base / "logs", **kwargs)
    if with_root_key:
        server.root_key_id = random_access_key_id()
        server.root_secret = random_secret()
    return server


@pytest.fixture(scope="module")
def clocked_server(tmp_path_factory, request):
    """Like `server`, with a test clock for temporary credentials' expiry: write a number of
    seconds to `srv.clock` and expiry is checked that far ahead (SigV4's clock is not moved)."""
    clock = tmp_path_factory.mktemp("clock") / "ahead"
    clock.write_text("0")
    srv = new_server(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1],
                     account_id=random_account_id(),
                     extra_env={"GATEHOUSE_TEST_EXPIRY_CLOCK_FILE": str(clock)})
    srv.clock = clock
    srv.start()
    try:
        yield srv
    finally:
        if srv.proc is not None:
            code = srv.stop()
            assert code == 0, f"gatehouse exited with {code} on SIGTERM; stderr:\n{srv.stderr()}"


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """A fresh server for this test module, with a random root key and a random account id from
    the environment (so nothing can pass by hard-coding the default account)."""
    srv = new_server(tmp_path_factory, request.module.__name__.rsplit(".", 1)[-1],
                     account_id=random_account_id()).start()
    try:
        yield srv
    finally:
        if srv.proc is not None:
            code = srv.stop()
            assert code == 0, f"gatehouse exited with {code} on SIGTERM; stderr:\n{srv.stderr()}"


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def serve_must_fail(server: Server, timeout: float = 10.0) -> subprocess.CompletedProcess:
    """Runs `gatehouse serve` with `server`'s configuration (environment, root key, account id,
    data directory, extra arguments) where it is expected to refuse to start. Returns the
    CompletedProcess (text output); fails the test if it prints its listening line or does not
    exit within `timeout` seconds. `server` must not be running."""
    assert server.proc is None, "the server is running"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env["GATEHOUSE_ACCOUNT_ID"] = server.account_id
    if server.root_key_id is not None:
        env["GATEHOUSE_ROOT_ACCESS_KEY_ID"] = server.root_key_id
        env["GATEHOUSE_ROOT_SECRET_ACCESS_KEY"] = server.root_secret
    env.update(server.extra_env)
    cmd = [str(gatehouse_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(server.data_dir),
           *map(str, server.extra_args)]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        still_running = False
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        still_running = True
    if still_running:
        pytest.fail(f"gatehouse was expected to refuse to start but was still running after {timeout} s;\n"
                    f"stdout: {out}\nstderr: {err}")
    assert "gatehouse listening on" not in out, f"gatehouse started listening:\n{out}\nstderr: {err}"
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
