"""HTTPS with --tls-cert/--tls-key: the same API over rustls, verified by boto3 against the
certificate it was given."""

import re
import subprocess
import time

import boto3
import pytest
from botocore.config import Config

from conftest import REGION, gatehouse_bin, random_access_key_id, random_secret


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    base = tmp_path_factory.mktemp("tls")
    cert, key = base / "cert.pem", base / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True)
    key_id, secret = random_access_key_id(), random_secret()
    out = open(base / "stdout", "wb")
    proc = subprocess.Popen(
        [str(gatehouse_bin()), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(base / "data"),
         "--tls-cert", str(cert), "--tls-key", str(key)],
        stdout=out, stderr=subprocess.DEVNULL,
        env={"GATEHOUSE_ROOT_ACCESS_KEY_ID": key_id, "GATEHOUSE_ROOT_SECRET_ACCESS_KEY": secret, "PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 5
    line = ""
    while time.monotonic() < deadline:
        line = (base / "stdout").read_text()
        if line.endswith("\n"):
            break
        time.sleep(0.02)
    m = re.match(r"gatehouse listening on https://127\.0\.0\.1:(\d+)\n", line)
    assert m, f"unexpected listening line {line!r}"
    yield {"endpoint": f"https://127.0.0.1:{m.group(1)}", "cert": str(cert), "key_id": key_id, "secret": secret}
    proc.terminate()
    assert proc.wait(timeout=15) == 0


def test_api_over_tls_verified_against_the_certificate(tls_server):
    sts = boto3.session.Session().client(
        "sts", endpoint_url=tls_server["endpoint"], region_name=REGION, verify=tls_server["cert"],
        aws_access_key_id=tls_server["key_id"], aws_secret_access_key=tls_server["secret"],
        config=Config(retries={"total_max_attempts": 1}))
    assert sts.get_caller_identity()["Arn"].endswith(":root")


def test_plain_http_to_the_tls_port_is_refused(tls_server):
    import http.client
    port = int(tls_server["endpoint"].rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/health")
        conn.getresponse().read()
