"""The plain HTTP surface: /health, /metrics, and a clean SIGTERM shutdown."""

import re
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import new_server


def get(server, path):
    with urllib.request.urlopen(f"{server.endpoint}{path}", timeout=10) as resp:
        return resp.status, resp.headers, resp.read().decode()


def metric(text, name, **labels):
    """The value of one sample, or 0 when absent."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_health(server):
    status, _, _ = get(server, "/health")
    assert status == 200


def test_metrics_count_requests(server):
    _, headers, before = get(server, "/metrics")
    assert headers["Content-Type"].startswith("text/plain")
    labels = dict(service="iam", operation="GetUser", outcome="NoSuchEntity")
    ok_labels = dict(service="sts", operation="GetCallerIdentity", outcome="ok")
    n0, ok0 = metric(before, "gatehouse_requests_total", **labels), metric(before, "gatehouse_requests_total", **ok_labels)
    count0 = metric(before, "gatehouse_request_duration_seconds_count")

    iam = server.iam()
    for _ in range(2):
        with pytest.raises(ClientError) as e:
            iam.get_user(UserName="nobody-here")
        assert e.value.response["Error"]["Code"] == "NoSuchEntity"
    server.sts().get_caller_identity()

    _, _, after = get(server, "/metrics")
    assert metric(after, "gatehouse_requests_total", **labels) == n0 + 2
    assert metric(after, "gatehouse_requests_total", **ok_labels) == ok0 + 1
    assert metric(after, "gatehouse_request_duration_seconds_count") == count0 + 3
    assert "# TYPE gatehouse_requests_total counter" in after
    assert "# TYPE gatehouse_request_duration_seconds histogram" in after
    # The histogram is cumulative and ends with +Inf == count.
    buckets = [(m.group(1), float(m.group(2))) for m in
               re.finditer(r'^gatehouse_request_duration_seconds_bucket\{le="([^"]+)"\} (\S+)$', after, re.M)]
    assert buckets and buckets[-1][0] == "+Inf"
    values = [v for _, v in buckets]
    assert values == sorted(values)
    assert buckets[-1][1] == metric(after, "gatehouse_request_duration_seconds_count")
    assert metric(after, "gatehouse_request_duration_seconds_sum") > 0


def test_health_and_metrics_need_no_signature_but_api_does(server):
    status, _, _ = get(server, "/health")
    assert status == 200
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.endpoint}/?Action=ListUsers&Version=2010-05-08", timeout=10)
    assert e.value.code == 403


def test_sigterm_exits_zero_and_keeps_state(tmp_path_factory):
    srv = new_server(tmp_path_factory, "sigterm").start()
    try:
        srv.iam().create_user(UserName="survivor")
    finally:
        code = srv.stop()
    assert code == 0, srv.stderr()
    srv.start()
    try:
        assert srv.iam().get_user(UserName="survivor")["User"]["UserName"] == "survivor"
        status, _, _ = get(srv, "/health")
        assert status == 200
    finally:
        assert srv.stop() == 0, srv.stderr()
