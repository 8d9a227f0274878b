"""SAML providers, service-linked roles and the credential report, end to end with boto3 and
the aws CLI: AWS's shapes, errors and protections.
"""

import base64
import csv
import io
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    """An IdP's signing certificate and a decryption key, made with OpenSSL."""
    d = tmp_path_factory.mktemp("idp")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=idp",
                    "-keyout", str(d / "idp.key"), "-out", str(d / "idp.crt")], check=True, capture_output=True)
    cert = "".join(l for l in (d / "idp.crt").read_text().splitlines() if not l.startswith("-----"))
    return {"cert": cert, "key": (d / "idp.key").read_text()}


def metadata(cert, valid_until="2031-01-01T00:00:00Z", entity="https://idp.example.com/saml"):
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
    entityID="{entity}" validUntil="{valid_until}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
        Location="https://idp.example.com/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>
"""


def test_saml_providers(server, idp):
    iam = server.iam()
    name = unique("okta")
    doc = metadata(idp["cert"])
    arn = iam.create_saml_provider(Name=name, SAMLMetadataDocument=doc,
                                   Tags=[{"Key": "team", "Value": "id"}])["SAMLProviderArn"]
    assert arn == f"arn:aws:iam::{server.account_id}:saml-provider/{name}"
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == doc  # the XML comes back escaped and intact
    assert got["ValidUntil"].year == 2031 and got["AssertionEncryptionMode"] == "Allowed"
    assert got["PrivateKeyList"] == [] and got["Tags"] == [{"Key": "team", "Value": "id"}]
    assert 22 <= len(got["SAMLProviderUUID"]) <= 64
    assert arn in [p["Arn"] for p in iam.list_saml_providers()["SAMLProviderList"]]

    with pytest.raises(ClientError) as e:
        iam.create_saml_provider(Name=name, SAMLMetadataDocument=doc)
    assert error(e)[:2] == ("EntityAlreadyExists", 409)
    for bad in (doc.replace("IDPSSODescriptor", "SPSSODescriptor"),
                doc.replace(idp["cert"], base64.b64encode(b"x" * 600).decode()),
                "<not-metadata>" + "x" * 1000 + "</not-metadata>",
                '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>' + doc.split("?>", 1)[1]):
        with pytest.raises(ClientError) as e:
            iam.create_saml_provider(Name=unique("bad"), SAMLMetadataDocument=bad)
        code, status, message = error(e)
        assert (code, status) == ("InvalidInput", 400) and message.startswith("Could not parse metadata")

    # Encryption: Required needs a key; keys are listed by id and never returned.
    with pytest.raises(ClientError) as e:
        iam.update_saml_provider(SAMLProviderArn=arn, AssertionEncryptionMode="Required")
    assert error(e)[:2] == ("InvalidInput", 400)
    iam.update_saml_provider(SAMLProviderArn=arn, AssertionEncryptionMode="Required", AddPrivateKey=idp["key"])
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["AssertionEncryptionMode"] == "Required" and len(got["PrivateKeyList"]) == 1
    raw = server.cli("iam", "get-saml-provider", "--saml-provider-arn", arn)
    assert "PRIVATE KEY" not in str(raw)
    new_doc = metadata(idp["cert"], valid_until="2032-02-02T00:00:00Z")
    server.cli("iam", "update-saml-provider", "--saml-provider-arn", arn, "--saml-metadata-document", new_doc)
    assert iam.get_saml_provider(SAMLProviderArn=arn)["ValidUntil"].year == 2032

    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["team"])
    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "k", "Value": "v"}])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    iam.delete_saml_provider(SAMLProviderArn=arn)
    with pytest.raises(ClientError) as e:
        iam.get_saml_provider(SAMLProviderArn=arn)
    assert error(e) == ("NoSuchEntity", 404, f"Manifest not found for arn {arn}")


def test_service_linked_roles(server):
    iam = server.iam()
    role = iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")["Role"]
    name = "AWSServiceRoleForElasticLoadBalancing"
    assert role["RoleName"] == name and role["Path"] == "/aws-service-role/elasticloadbalancing.amazonaws.com/"
    assert role["Arn"] == f"arn:aws:iam::{server.account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/{name}"
    trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "elasticloadbalancing.amazonaws.com"}
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSElasticLoadBalancingServiceRolePolicy",
                         "PolicyArn": "arn:aws:iam::aws:policy/aws-service-role/AWSElasticLoadBalancingServiceRolePolicy"}]

    with pytest.raises(ClientError) as e:
        iam.create_service_linked_role(AWSServiceName="elasticloadbalancing.amazonaws.com")
    assert error(e) == ("InvalidInput", 400, f"Service role name {name} has been taken in this account, "
                                             "please try a different suffix.")
    with pytest.raises(ClientError) as e:
        iam.create_service_linked_role(AWSServiceName="es.amazonaws.com", CustomSuffix="x")
    assert error(e) == ("InvalidInput", 400, "Custom suffix is not allowed for es.amazonaws.com")
    with pytest.raises(ClientError) as e:
        iam.create_service_linked_role(AWSServiceName="nothing.example.com")
    assert error(e)[:2] == ("InvalidInput", 400)
    suffixed = iam.create_service_linked_role(AWSServiceName="autoscaling.amazonaws.com", CustomSuffix="web")["Role"]
    assert suffixed["RoleName"] == "AWSServiceRoleForAutoScaling_web"

    # Only AWS changes a service-linked role.
    protected = f"Cannot perform the operation on the protected role '{name}' - this role is only modifiable by AWS"
    for call in (lambda: iam.delete_role(RoleName=name),
                 lambda: iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=
                 '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'),
                 lambda: iam.detach_role_policy(RoleName=name, PolicyArn=attached[0]["PolicyArn"]),
                 lambda: iam.attach_role_policy(RoleName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess"),
                 lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=
                 '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}')):
        with pytest.raises(ClientError) as e:
            call()
        assert error(e) == ("UnmodifiableEntity", 400, protected)
    with pytest.raises(ClientError) as e:
        iam.create_role(RoleName=unique("fake"), Path="/aws-service-role/x/", AssumeRolePolicyDocument=
                        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"sts:AssumeRole"}]}')
    assert error(e)[:2] == ("InvalidInput", 400)

    task = iam.delete_service_linked_role(RoleName=name)["DeletionTaskId"]
    assert task.startswith(f"task/aws-service-role/elasticloadbalancing.amazonaws.com/{name}/")
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"
    with pytest.raises(ClientError) as e:
        iam.get_role(RoleName=name)
    assert error(e)[:2] == ("NoSuchEntity", 404)
    # The managed policy's use was counted and released.
    policy = iam.get_policy(PolicyArn=attached[0]["PolicyArn"])["Policy"]
    assert policy["AttachmentCount"] == 0
    with pytest.raises(ClientError) as e:
        iam.delete_service_linked_role(RoleName=unique("plain"))
    assert error(e)[:2] == ("NoSuchEntity", 404)
    iam.delete_service_linked_role(RoleName="AWSServiceRoleForAutoScaling_web")


def test_credential_report(server):
    iam = server.iam()
    with pytest.raises(ClientError) as e:
        iam.get_credential_report()
    assert error(e)[:2] == ("ReportNotPresent", 410)
    name = unique("reported")
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.create_login_profile(UserName=name, Password="Report-pass-1")
    first = iam.generate_credential_report()
    assert (first["State"], first["Description"]) == ("STARTED", "No report exists. Starting a new report generation task")
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    report = iam.get_credential_report()
    assert report["ReportFormat"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report["Content"].decode())))
    header = report["Content"].decode().splitlines()[0]
    assert header == ("user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
                      "password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,"
                      "access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,"
                      "access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,"
                      "access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,"
                      "cert_1_last_rotated,cert_2_active,cert_2_last_rotated")
    root = rows[0]
    assert root["user"] == "<root_account>" and root["arn"] == f"arn:aws:iam::{server.account_id}:root"
    assert root["password_enabled"] == "not_supported"
    mine = next(r for r in rows if r["user"] == name)
    assert mine["password_enabled"] == "true" and mine["password_last_used"] == "no_information"
    assert mine["access_key_1_active"] == "true" and mine["access_key_1_last_rotated"].endswith("+00:00")
    assert mine["access_key_2_active"] == "false" and mine["access_key_2_last_rotated"] == "N/A"
    assert mine["mfa_active"] == "false" and mine["cert_1_active"] == "false"
    # The CLI gets the same base64 blob.
    out = server.cli("iam", "get-credential-report")
    assert base64.b64decode(out["Content"]).decode().splitlines()[0] == header
