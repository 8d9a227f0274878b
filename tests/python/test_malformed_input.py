"""Raw Query-protocol requests, signed with botocore's SigV4Auth so only the chosen part is bad.
Each bad request gets AWS's error code and status, and changes nothing (checked by listing the
users, the victim's tags and its keys afterwards)."""

import datetime
import re
import urllib.parse
from unittest import mock

import pytest

from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import raw_send, unique

IAM_VERSION = "Version=2010-05-08"
MAX_BODY = 16 * 1024 * 1024


def form(**params) -> str:
    return urllib.parse.urlencode(params, quote_via=urllib.parse.quote)


@pytest.fixture(scope="module")
def victim(server):
    """A user with a tag and a key, whose state every test checks is unchanged."""
    iam = server.iam()
    name = unique("victim")
    iam.create_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return {"name": name, "key_id": key["AccessKeyId"]}


def snapshot(server, victim):
    iam = server.iam()
    users = []
    for page in iam.get_paginator("list_users").paginate():
        users += page["Users"]
    tags = iam.list_user_tags(UserName=victim["name"])["Tags"]
    keys = [(k["AccessKeyId"], k["Status"]) for k in iam.list_access_keys(UserName=victim["name"])["AccessKeyMetadata"]]
    return sorted((u["UserName"], u["Path"], u["UserId"], u["Arn"]) for u in users), tags, keys


@pytest.fixture
def unchanged(server, victim):
    before = snapshot(server, victim)
    yield
    assert snapshot(server, victim) == before, "a refused request changed the stored state"


def post(server, body, **kwargs):
    return server.send(server.signed_request(body, **kwargs))


def assert_error(resp, code, status, message=None):
    err = resp.error()
    assert (err["Code"], resp.status) == (code, status), f"{resp.status} {resp.body!r}"
    assert err["Type"] in ("Sender", "Receiver")
    assert err["RequestId"]
    assert resp.headers.get("x-amzn-requestid") == err["RequestId"]
    if message is not None:
        assert err["Message"] == message
    return err


# Encoding.

@pytest.mark.parametrize("bad", ["bad%zz", "bad%ff", "bad%c3", "bad%"], ids=["percent-zz", "invalid-utf8-ff",
                                                                             "truncated-utf8", "lone-percent"])
def test_bad_form_encoding_is_refused(server, unchanged, bad):
    resp = post(server, f"Action=CreateUser&{IAM_VERSION}&UserName={bad}")
    err = resp.error()
    # AWS's documented codes for a query it cannot decode.
    assert (err["Code"], resp.status) in {("MalformedQueryString", 404), ("InvalidQueryParameter", 400)}, resp.body


# Validation.

def test_missing_required_parameter(server, unchanged):
    resp = post(server, f"Action=CreateUser&{IAM_VERSION}")
    assert_error(resp, "ValidationError", 400,
                 "1 validation error detected: Value null at 'userName' failed to satisfy constraint: "
                 "Member must not be null")


def test_unknown_parameter_is_ignored(server, victim):
    before = snapshot(server, victim)
    name = unique("extra")
    resp = post(server, form(Action="CreateUser", Version="2010-05-08", UserName=name, Bogus="1"))
    assert resp.status == 200, resp.body
    user = server.iam().get_user(UserName=name)["User"]
    assert "Tags" not in user
    after = snapshot(server, victim)
    assert [u for u in after[0] if u[0] != name] == before[0]
    assert after[1:] == before[1:]


def test_overlong_user_name(server, unchanged):
    resp = post(server, form(Action="CreateUser", Version="2010-05-08", UserName="a" * 65))
    assert_error(resp, "ValidationError", 400,
                 f"1 validation error detected: Value '{'a' * 65}' at 'userName' failed to satisfy constraint: "
                 "Member must have length less than or equal to 64")


def test_sixty_four_characters_is_fine(server, victim):
    name = "b" * 60 + unique("")[-4:]
    assert len(name) == 64
    resp = post(server, form(Action="CreateUser", Version="2010-05-08", UserName=name))
    assert resp.status == 200, resp.body
    server.iam().delete_user(UserName=name)


def test_overlong_tag_key(server, victim, unchanged):
    resp = post(server, form(Action="TagUser", Version="2010-05-08", UserName=victim["name"],
                             **{"Tags.member.1.Key": "k" * 129, "Tags.member.1.Value": "v"}))
    err = assert_error(resp, "ValidationError", 400)
    assert "at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128" \
        in err["Message"]


@pytest.mark.parametrize("params,message", [
    ({"Action": "CreateUser", "UserName": "no-slash", "Path": "/a"},
     "at 'path' failed to satisfy constraint: Member must satisfy regular expression pattern: "
     "(\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)"),
    ({"Action": "ListUsers", "PathPrefix": "a/"},
     "at 'pathPrefix' failed to satisfy constraint: Member must satisfy regular expression pattern: "
     "\\u002F[\\u0021-\\u007F]*"),
    ({"Action": "ListUsers", "MaxItems": "0"},
     "at 'maxItems' failed to satisfy constraint: Member must have value greater than or equal to 1"),
    ({"Action": "ListUsers", "MaxItems": "1001"},
     "at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000"),
    (dict({"Action": "CreateUser", "UserName": "too-many-tags"},
          **{f"Tags.member.{i}.{part}": f"t{i}" for i in range(1, 52) for part in ("Key", "Value")}),
     "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"),
    # Both of the empty name's violations are reported, as AWS lists every one.
    ({"Action": "CreateUser", "UserName": ""},
     "at 'userName' failed to satisfy constraint: Member must have length greater than or equal to 1; Value "),
], ids=["path-no-trailing-slash", "path-prefix-no-leading-slash", "max-items-0", "max-items-1001", "51-tags",
        "empty-name"])
def test_constraint_violations(server, unchanged, params, message):
    resp = post(server, form(Version="2010-05-08", **params))
    err = assert_error(resp, "ValidationError", 400)
    count = 2 if params.get("UserName") == "" else 1
    prefix = f"{count} validation error{'s' if count > 1 else ''} detected: Value "
    assert err["Message"].startswith(prefix), err["Message"]
    assert message in err["Message"], err["Message"]


def test_bad_enum(server, victim, unchanged):
    resp = post(server, form(Action="UpdateAccessKey", Version="2010-05-08", UserName=victim["name"],
                             AccessKeyId=victim["key_id"], Status="Bogus"))
    err = assert_error(resp, "ValidationError", 400)
    assert err["Message"].startswith(
        "1 validation error detected: Value 'Bogus' at 'status' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["), err["Message"]


def test_body_over_16_mib(server, unchanged):
    name = unique("big")
    body = form(Action="CreateUser", Version="2010-05-08", UserName=name) + "&Pad=" + "a" * MAX_BODY
    assert len(body) > MAX_BODY
    resp = post(server, body)
    assert resp.status == 413, resp.body[:500]


# Escaping.

XML_BREAKERS = "<&>\"'"


def test_xml_breaking_path_round_trips(server, victim):
    name = unique("xml")
    path = f"/a{XML_BREAKERS}]]>b/"
    resp = post(server, form(Action="CreateUser", Version="2010-05-08", UserName=name, Path=path))
    assert resp.status == 200, resp.body
    assert b"<&>" not in resp.body and b"]]>b" not in resp.body, resp.body  # escaped, not raw
    created = resp.xml()
    assert path in [e.text for e in created.iter() if e.tag.endswith("Path")]
    iam = server.iam()
    assert iam.get_user(UserName=name)["User"]["Path"] == path
    assert iam.get_user(UserName=name)["User"]["Arn"].endswith(f":user{path}{name}")
    listed = [u for u in iam.list_users(PathPrefix="/a<")["Users"] if u["UserName"] == name]
    assert [u["Path"] for u in listed] == [path]
    iam.delete_user(UserName=name)


def test_xml_breaking_tag_value_is_refused_by_pattern(server, victim, unchanged):
    # AWS's tag values allow letters, separators, digits and _.:/=+-@ only.
    resp = post(server, form(Action="TagUser", Version="2010-05-08", UserName=victim["name"],
                             **{"Tags.member.1.Key": "k", "Tags.member.1.Value": XML_BREAKERS}))
    err = assert_error(resp, "ValidationError", 400)
    assert "at 'tags.1.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: " \
           "[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*" in err["Message"], err["Message"]


def test_unicode_tag_value_round_trips(server, victim):
    iam = server.iam()
    value = "é 日本\u00a0x\u2028y:/=+-@_."
    resp = post(server, form(Action="TagUser", Version="2010-05-08", UserName=victim["name"],
                             **{"Tags.member.1.Key": "uni", "Tags.member.1.Value": value}))
    assert resp.status == 200, resp.body
    tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=victim["name"])["Tags"]}
    assert tags["uni"] == value
    iam.untag_user(UserName=victim["name"], TagKeys=["uni"])


def test_non_ascii_letters_in_user_name_are_refused(server, unchanged):
    # IAM names are ASCII: Java's \\w (the model's pattern) does not match "é".
    resp = post(server, form(Action="CreateUser", Version="2010-05-08", UserName="jos\u00e9"))
    err = assert_error(resp, "ValidationError", 400)
    assert "at 'userName' failed to satisfy constraint: Member must satisfy regular expression pattern: " \
           "[\\w+=,.@-]+" in err["Message"], err["Message"]


@pytest.mark.parametrize("params,path", [
    ({"Action": "CreateUser", "UserName": "a\x01b"}, "userName"),
    ({"Action": "CreateUser", "UserName": "ctl-path", "Path": "/a\x1fb/"}, "path"),
    ({"Action": "CreateUser", "UserName": "ctl-nul", "Path": "/a\x00b/"}, "path"),
    ({"Action": "TagUser", "UserName": "VICTIM", "Tags.member.1.Key": "k", "Tags.member.1.Value": "a\x07"},
     "tags.1.member.value"),
    ({"Action": "TagUser", "UserName": "VICTIM", "Tags.member.1.Key": "k\x0b", "Tags.member.1.Value": "v"},
     "tags.1.member.key"),
], ids=["username-soh", "path-us", "path-nul", "tag-value-bel", "tag-key-vt"])
def test_control_characters_are_refused(server, victim, unchanged, params, path):
    params = {k: (victim["name"] if v == "VICTIM" else v) for k, v in params.items()}
    resp = post(server, form(Version="2010-05-08", **params))
    err = assert_error(resp, "ValidationError", 400)
    assert f"at '{path}' failed to satisfy constraint: Member must satisfy regular expression pattern" \
        in err["Message"], err["Message"]


# Authentication.

SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                      "Check your AWS Secret Access Key and signing method. Consult the service documentation "
                      "for details.")
STAMP = r"\d{8}T\d{6}Z"


def create_body():
    return form(Action="CreateUser", Version="2010-05-08", UserName=unique("auth"))


def test_unsigned_request(server, unchanged):
    body = create_body().encode()
    resp = raw_send(server.port, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded"}, body)
    assert_error(resp, "MissingAuthenticationToken", 403, "Request is missing Authentication Token")


def test_wrong_secret(server, unchanged):
    resp = post(server, create_body(), secret="x" * 40)
    assert_error(resp, "SignatureDoesNotMatch", 403, SIGNATURE_MISMATCH)


def test_tampered_body(server, unchanged):
    req = server.signed_request(create_body())
    req.data = req.body.replace(b"auth-", b"autx-")
    resp = raw_send(server.port, "POST", "/", dict(req.headers.items()), req.data)
    assert_error(resp, "SignatureDoesNotMatch", 403)


def test_unknown_key(server, unchanged):
    resp = post(server, create_body(), key_id="AKIAUNKNOWNUNKNOWN00")
    assert_error(resp, "InvalidClientTokenId", 403, "The security token included in the request is invalid.")


def test_request_dated_twenty_minutes_ago(server, unchanged):
    then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=then):
        req = server.signed_request(create_body())
    assert req.headers["X-Amz-Date"] == then.strftime("%Y%m%dT%H%M%SZ")
    resp = server.send(req)
    err = assert_error(resp, "SignatureDoesNotMatch", 403)
    assert "Signature expired" in err["Message"], err["Message"]
    # AWS: "Signature expired: <X-Amz-Date> is now earlier than <now - 15 min> (<now> - 15 min.)"
    assert re.fullmatch(rf"Signature expired: {then:%Y%m%dT%H%M%S}Z is now earlier than {STAMP} \({STAMP} - 15 min\.\)",
                        err["Message"]), err["Message"]


def test_session_token_with_a_long_term_key(server, unchanged):
    req = server.signed_request(create_body(), headers={"X-Amz-Security-Token": "not-a-session"})
    assert_error(server.send(req), "InvalidClientTokenId", 403)


def test_credential_scoped_to_another_service(server, unchanged):
    resp = post(server, create_body(), service="s3")
    err = assert_error(resp, "SignatureDoesNotMatch", 403)
    assert "Credential should be scoped to correct service: 'iam'" in err["Message"], err["Message"]


def test_request_dated_twenty_minutes_ahead(server, unchanged):
    then = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) + datetime.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=then):
        req = server.signed_request(create_body())
    err = assert_error(server.send(req), "SignatureDoesNotMatch", 403)
    assert "Signature not yet current" in err["Message"], err["Message"]
    assert re.fullmatch(rf"Signature not yet current: {then:%Y%m%dT%H%M%S}Z is still later than {STAMP} "
                        rf"\({STAMP} \+ 15 min\.\)", err["Message"]), err["Message"]


def test_signed_get_and_presigned_url(server):
    """Query APIs also take GET with the parameters in the URL, signed in the Authorization
    header or presigned in the query string."""
    url = server.endpoint + "/?Action=GetCallerIdentity&Version=2011-06-15"
    creds = Credentials(server.root_key_id, server.root_secret)
    for auth in (SigV4Auth(creds, "sts", "us-east-1"), SigV4QueryAuth(creds, "sts", "us-east-1", expires=60)):
        req = AWSRequest(method="GET", url=url)
        auth.add_auth(req)
        parts = urllib.parse.urlsplit(req.url)
        resp = raw_send(server.port, "GET", f"{parts.path}?{parts.query}", dict(req.headers.items()), b"")
        assert resp.status == 200, (type(auth).__name__, resp.body)
        assert [e.text for e in resp.xml().iter() if e.tag.endswith("Arn")] == \
            [f"arn:aws:iam::{server.account_id}:root"]
    # A presigned URL with a tampered parameter is refused.
    req = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(creds, "sts", "us-east-1", expires=60).add_auth(req)
    parts = urllib.parse.urlsplit(req.url)
    tampered = parts.query.replace("Version=2011-06-15", "Version=2011-06-16")
    resp = raw_send(server.port, "GET", f"{parts.path}?{tampered}", {}, b"")
    assert_error(resp, "SignatureDoesNotMatch", 403)


def test_sts_signed_request_works(server):
    """The raw path itself is sound: the same machinery succeeds when nothing is bad."""
    resp = post(server, "Action=GetCallerIdentity&Version=2011-06-15", service="sts")
    assert resp.status == 200, resp.body
    arn = [e.text for e in resp.xml().iter() if e.tag.endswith("Arn")]
    assert arn == [f"arn:aws:iam::{server.account_id}:root"]
