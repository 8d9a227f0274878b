"""Every IAM and STS operation in botocore's own model answers, as root, with a minimal valid
input: either a success botocore parses, or a well-formed AWS error. Operations Gatehouse does
not provide yet answer NotImplemented (HTTP 501); the implemented ones never do."""

import re
from pathlib import Path

import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from model_inputs import minimal_input

def _implemented_from_compatibility_doc():
    """The implemented operations, from docs/compatibility.md, which a Rust test regenerates
    from the server's own `IMPLEMENTED` lists, so this walk checks the table can't lie."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "compatibility.md").read_text()
    implemented, service = {"iam": set(), "sts": set()}, None
    for line in doc.splitlines():
        heading = re.match(r"## (IAM|STS) ", line)
        if heading:
            service = heading.group(1).lower()
        row = re.match(r"\| `(\w+)` \| implemented \|", line)
        if row and service:
            implemented[service].add(row.group(1))
    assert implemented["iam"] and implemented["sts"], "no implemented operations found in docs/compatibility.md"
    return implemented


IMPLEMENTED = _implemented_from_compatibility_doc()
UNSIGNED_OPERATIONS = {"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"}

_session = botocore.session.get_session()
MODELS = {svc: _session.get_service_model(svc) for svc in ("iam", "sts")}
OPERATIONS = [(svc, op) for svc in ("iam", "sts") for op in MODELS[svc].operation_names]


def test_model_has_all_187_operations():
    assert len(MODELS["iam"].operation_names) == 176
    assert len(MODELS["sts"].operation_names) == 11
    for svc, ops in IMPLEMENTED.items():
        assert ops <= set(MODELS[svc].operation_names)


@pytest.fixture(scope="module")
def clients(server):
    made = {}

    def get(svc, unsigned=False):
        key = (svc, unsigned)
        if key not in made:
            made[key] = server.client(svc, signature_version=UNSIGNED) if unsigned else server.client(svc)
        return made[key]

    return get


def check_required_members(shape, value, where):
    """Every member the model marks required is present in the parsed output."""
    if shape is None or shape.type_name != "structure":
        return
    for name in shape.required_members:
        assert name in value, f"{where}: required output member {name} missing from {value!r}"


@pytest.mark.parametrize("service,operation", OPERATIONS, ids=[f"{s}:{o}" for s, o in OPERATIONS])
def test_operation_answers(clients, server, service, operation):
    model = MODELS[service].operation_model(operation)
    params = minimal_input(model)
    unsigned = service == "sts" and operation in UNSIGNED_OPERATIONS
    client = clients(service, unsigned)
    method = getattr(client, botocore.xform_name(operation))
    implemented = operation in IMPLEMENTED[service]
    try:
        response = method(**params)
    except ClientError as e:
        err = e.response["Error"]
        meta = e.response["ResponseMetadata"]
        status = meta["HTTPStatusCode"]
        assert err.get("Code"), f"no error code: {e.response!r}"
        assert err.get("Message"), f"no error message: {e.response!r}"
        assert meta.get("RequestId"), f"no request id: {e.response!r}"
        assert 400 <= status <= 599, status
        if implemented:
            assert err["Code"] != "NotImplemented", f"{operation} is implemented but answered NotImplemented"
            assert status < 500, f"{operation} failed on the server side: {status} {err}"
        else:
            assert (err["Code"], status) == ("NotImplemented", 501), (
                f"{operation} is not implemented yet: expected NotImplemented/501, got {err['Code']}/{status}: "
                f"{err.get('Message')}"
            )
        return
    meta = response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta.get("RequestId"), response
    assert implemented, f"{operation} is not implemented yet but succeeded: {response!r}"
    check_required_members(model.output_shape, response, operation)


def test_unknown_action_is_invalid_action(server):
    req = server.signed_request("Action=FlyToTheMoon&Version=2010-05-08")
    resp = server.send(req)
    assert resp.status == 400, resp.body
    assert resp.error()["Code"] == "InvalidAction"


def test_not_implemented_is_checked_before_validation(server):
    # An operation that stays unimplemented (it needs a language model), without its required
    # members: still NotImplemented, not ValidationError.
    resp = server.send(server.signed_request("Action=GetHumanReadableSummary&Version=2010-05-08"))
    assert resp.status == 501, resp.body
    err = resp.error()
    assert err["Code"] == "NotImplemented"
    assert err["Type"] == "Receiver"
