"""The per-user credential families and server certificates, end to end with boto3 and the aws
CLI: SSH public keys, signing certificates, service-specific credentials, server certificates.
Keys and certificates are made for each run with OpenSSL and ssh-keygen.
"""

import re
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def error(excinfo):
    resp = excinfo.value.response
    return resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Message"]


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs).stdout


def expired_certificate():
    """A self-signed certificate valid for one day in 2020 (OpenSSL 3.0 cannot backdate one)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "old")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()).decode())


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """RSA keys and self-signed certificates (valid and expired), made with OpenSSL."""
    d = tmp_path_factory.mktemp("material")

    def cert(name, days="30", key_opts=("-newkey", "rsa:2048")):
        run("openssl", "req", "-x509", *key_opts, "-nodes", "-days", days, "-subj", f"/CN={name}",
            "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.crt"))
        return (d / f"{name}.crt").read_text(), (d / f"{name}.key").read_text()

    out = {name: cert(name) for name in ("a", "b", "c", "d")}
    out["ec"] = cert("ec", key_opts=("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"))
    out["old"] = expired_certificate()
    ssh = []
    for i, bits in enumerate(("2048", "3072", "2048", "2048", "2048", "2048")):
        path = d / f"ssh{i}"
        run("ssh-keygen", "-q", "-t", "rsa", "-b", bits, "-N", "", "-C", f"k{i}@test", "-f", str(path))
        md5 = run("ssh-keygen", "-l", "-E", "md5", "-f", str(path) + ".pub").split()[1].removeprefix("MD5:")
        pem = run("ssh-keygen", "-e", "-m", "PKCS8", "-f", str(path) + ".pub")
        ssh.append({"openssh": (d / f"ssh{i}.pub").read_text(), "md5": md5, "pem": pem})
    out["ssh"] = ssh
    small = d / "small"
    run("ssh-keygen", "-q", "-t", "rsa", "-b", "1024", "-N", "", "-f", str(small))
    out["ssh_small"] = (d / "small.pub").read_text()
    ed = d / "ed"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ed))
    out["ssh_ed25519"] = (d / "ed.pub").read_text()
    return out


def test_ssh_public_keys(server, material):
    iam = server.iam()
    name = unique("git")
    iam.create_user(UserName=name)
    keys = material["ssh"]
    up = iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=keys[0]["openssh"])["SSHPublicKey"]
    assert re.fullmatch(r"APKA[A-Z2-7]{16}", up["SSHPublicKeyId"])
    assert (up["UserName"], up["Status"], up["Fingerprint"]) == (name, "Active", keys[0]["md5"])
    assert up["SSHPublicKeyBody"] == " ".join(keys[0]["openssh"].split()[:2])

    # Both encodings on the way out; a PEM key on the way in.
    pem = iam.get_ssh_public_key(UserName=name, SSHPublicKeyId=up["SSHPublicKeyId"], Encoding="PEM")
    assert pem["SSHPublicKey"]["SSHPublicKeyBody"].split() == keys[0]["pem"].split()
    second = iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=keys[1]["pem"])["SSHPublicKey"]
    assert second["Fingerprint"] == keys[1]["md5"]

    for body, code in ((keys[0]["pem"], "DuplicateSSHPublicKey"), (material["ssh_small"], "InvalidPublicKey"),
                       (material["ssh_ed25519"], "UnrecognizedPublicKeyEncoding"),
                       ("not a key at all", "UnrecognizedPublicKeyEncoding")):
        with pytest.raises(ClientError) as e:
            iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=body)
        assert error(e)[:2] == (code, 400), body
    for k in keys[2:5]:
        iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=k["openssh"])
    with pytest.raises(ClientError) as e:
        iam.upload_ssh_public_key(UserName=name, SSHPublicKeyBody=keys[5]["openssh"])
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for SSHPublicKeysPerUser: 5")

    listed = server.cli("iam", "list-ssh-public-keys", "--user-name", name)["SSHPublicKeys"]
    assert len(listed) == 5 and set(listed[0]) == {"UserName", "SSHPublicKeyId", "Status", "UploadDate"}
    page = iam.list_ssh_public_keys(UserName=name, MaxItems=2)
    assert page["IsTruncated"] and len(page["SSHPublicKeys"]) == 2
    iam.update_ssh_public_key(UserName=name, SSHPublicKeyId=up["SSHPublicKeyId"], Status="Inactive")
    got = iam.get_ssh_public_key(UserName=name, SSHPublicKeyId=up["SSHPublicKeyId"], Encoding="SSH")
    assert got["SSHPublicKey"]["Status"] == "Inactive"

    # A user with keys cannot be deleted; a missing key is named in AWS's words.
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=name)
    assert error(e)[:2] == ("DeleteConflict", 409)
    for k in iam.list_ssh_public_keys(UserName=name)["SSHPublicKeys"]:
        iam.delete_ssh_public_key(UserName=name, SSHPublicKeyId=k["SSHPublicKeyId"])
    with pytest.raises(ClientError) as e:
        iam.get_ssh_public_key(UserName=name, SSHPublicKeyId=up["SSHPublicKeyId"], Encoding="SSH")
    assert error(e) == ("NoSuchEntity", 404, f"The Public Key with id {up['SSHPublicKeyId']} cannot be found.")
    iam.delete_user(UserName=name)


def test_signing_certificates(server, material):
    iam = server.iam()
    alice, bob = unique("alice"), unique("bob")
    for n in (alice, bob):
        iam.create_user(UserName=n)
    cert_a, cert_b, cert_c = material["a"][0], material["b"][0], material["c"][0]
    up = iam.upload_signing_certificate(UserName=alice, CertificateBody=cert_a)["Certificate"]
    assert re.fullmatch(r"[A-Z2-7]{24}", up["CertificateId"])
    assert (up["UserName"], up["Status"], up["CertificateBody"]) == (alice, "Active", cert_a)

    # One certificate, one owner in the account.
    with pytest.raises(ClientError) as e:
        iam.upload_signing_certificate(UserName=bob, CertificateBody=cert_a)
    assert error(e)[:2] == ("DuplicateCertificate", 409)
    for body in ("not a certificate", material["a"][1], material["old"][0]):
        with pytest.raises(ClientError) as e:
            iam.upload_signing_certificate(UserName=alice, CertificateBody=body)
        assert error(e)[:2] == ("MalformedCertificate", 400)
    iam.upload_signing_certificate(UserName=alice, CertificateBody=cert_b)
    with pytest.raises(ClientError) as e:
        iam.upload_signing_certificate(UserName=alice, CertificateBody=cert_c)
    assert error(e) == ("LimitExceeded", 409, "Cannot exceed quota for CertificatesPerUser: 2")

    listed = iam.list_signing_certificates(UserName=alice)["Certificates"]
    assert sorted(c["CertificateBody"] for c in listed) == sorted([cert_a, cert_b])
    server.cli("iam", "update-signing-certificate", "--user-name", alice,
               "--certificate-id", up["CertificateId"], "--status", "Inactive")
    statuses = {c["CertificateId"]: c["Status"] for c in iam.list_signing_certificates(UserName=alice)["Certificates"]}
    assert statuses[up["CertificateId"]] == "Inactive"
    with pytest.raises(ClientError) as e:
        iam.delete_signing_certificate(UserName=bob, CertificateId=up["CertificateId"])
    assert error(e) == ("NoSuchEntity", 404, f"The Certificate with id {up['CertificateId']} cannot be found.")

    # Without UserName: the caller's own (here the root user's).
    root_cert = iam.upload_signing_certificate(CertificateBody=cert_c)["Certificate"]
    assert root_cert["CertificateId"] in [c["CertificateId"] for c in iam.list_signing_certificates()["Certificates"]]
    iam.delete_signing_certificate(CertificateId=root_cert["CertificateId"])
    for c in iam.list_signing_certificates(UserName=alice)["Certificates"]:
        iam.delete_signing_certificate(UserName=alice, CertificateId=c["CertificateId"])
    iam.delete_user(UserName=alice)


def test_service_specific_credentials(server):
    iam = server.iam()
    name = unique("dev")
    iam.create_user(UserName=name)
    first = iam.create_service_specific_credential(UserName=name, ServiceName="codecommit.amazonaws.com")[
        "ServiceSpecificCredential"]
    assert first["ServiceUserName"] == f"{name}-at-{server.account_id}"
    assert re.fullmatch(r"ACCA[A-Z2-7]{17}", first["ServiceSpecificCredentialId"])
    assert len(first["ServicePassword"]) == 44 and first["Status"] == "Active"
    second = iam.create_service_specific_credential(UserName=name, ServiceName="codecommit.amazonaws.com")[
        "ServiceSpecificCredential"]
    assert second["ServiceUserName"] == f"{name}+1-at-{server.account_id}"
    with pytest.raises(ClientError) as e:
        iam.create_service_specific_credential(UserName=name, ServiceName="codecommit.amazonaws.com")
    assert error(e)[:2] == ("LimitExceeded", 409)
    with pytest.raises(ClientError) as e:
        iam.create_service_specific_credential(UserName=name, ServiceName="s3.amazonaws.com")
    assert error(e)[:2] == ("NotSupportedService", 404)
    iam.create_service_specific_credential(UserName=name, ServiceName="cassandra.amazonaws.com")

    listed = iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]
    assert len(listed) == 3
    assert all("ServicePassword" not in c for c in listed)
    only = iam.list_service_specific_credentials(UserName=name, ServiceName="cassandra.amazonaws.com")
    assert [c["ServiceName"] for c in only["ServiceSpecificCredentials"]] == ["cassandra.amazonaws.com"]
    everyone = iam.list_service_specific_credentials(AllUsers=True)["ServiceSpecificCredentials"]
    assert {c["UserName"] for c in everyone} >= {name}

    # A reset shows a new password once; the old one is gone.
    reset = iam.reset_service_specific_credential(
        UserName=name, ServiceSpecificCredentialId=first["ServiceSpecificCredentialId"])["ServiceSpecificCredential"]
    assert reset["ServicePassword"] != first["ServicePassword"] and len(reset["ServicePassword"]) == 44
    iam.update_service_specific_credential(UserName=name, ServiceSpecificCredentialId=first[
        "ServiceSpecificCredentialId"], Status="Inactive")
    statuses = {c["ServiceSpecificCredentialId"]: c["Status"]
                for c in iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]}
    assert statuses[first["ServiceSpecificCredentialId"]] == "Inactive"
    # The secret is never in a log.
    assert first["ServicePassword"] not in server.stderr() + server.stdout()
    with pytest.raises(ClientError) as e:
        iam.delete_user(UserName=name)
    assert error(e)[:2] == ("DeleteConflict", 409)
    for c in iam.list_service_specific_credentials(UserName=name)["ServiceSpecificCredentials"]:
        iam.delete_service_specific_credential(UserName=name,
                                               ServiceSpecificCredentialId=c["ServiceSpecificCredentialId"])
    with pytest.raises(ClientError) as e:
        iam.delete_service_specific_credential(UserName=name,
                                               ServiceSpecificCredentialId=first["ServiceSpecificCredentialId"])
    assert error(e)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName=name)


def test_server_certificates(server, material):
    iam = server.iam()
    name = unique("web")
    cert, key = material["d"]
    chain = material["a"][0] + material["b"][0]
    up = iam.upload_server_certificate(ServerCertificateName=name, Path="/cloudfront/", CertificateBody=cert,
                                       PrivateKey=key, CertificateChain=chain,
                                       Tags=[{"Key": "env", "Value": "prod"}])
    meta = up["ServerCertificateMetadata"]
    assert re.fullmatch(r"ASCA[A-Z2-7]{17}", meta["ServerCertificateId"])
    assert meta["Arn"] == f"arn:aws:iam::{server.account_id}:server-certificate/cloudfront/{name}"
    assert meta["Expiration"] > meta["UploadDate"]
    assert up["Tags"] == [{"Key": "env", "Value": "prod"}]

    got = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    assert (got["CertificateBody"], got["CertificateChain"]) == (cert, chain)
    # The private key is never returned, in any shape.
    raw = server.cli("iam", "get-server-certificate", "--server-certificate-name", name)
    assert "PRIVATE KEY" not in str(raw) and "PrivateKey" not in str(raw)

    ec_cert, ec_key = material["ec"]
    iam.upload_server_certificate(ServerCertificateName=unique("ec"), CertificateBody=ec_cert, PrivateKey=ec_key)
    cases = [
        (dict(CertificateBody=cert, PrivateKey=material["a"][1]), "KeyPairMismatch"),
        (dict(CertificateBody=ec_cert, PrivateKey=key), "KeyPairMismatch"),
        (dict(CertificateBody="garbage", PrivateKey=key), "MalformedCertificate"),
        (dict(CertificateBody=cert, PrivateKey="garbage"), "MalformedCertificate"),
        (dict(CertificateBody=cert, PrivateKey=key, CertificateChain="garbage"), "MalformedCertificate"),
        (dict(CertificateBody=material["old"][0], PrivateKey=material["old"][1]), "MalformedCertificate"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as e:
            iam.upload_server_certificate(ServerCertificateName=unique("bad"), **kwargs)
        assert error(e)[:2] == (code, 400), kwargs
    with pytest.raises(ClientError) as e:
        iam.upload_server_certificate(ServerCertificateName=name.upper(), CertificateBody=cert, PrivateKey=key)
    assert error(e) == ("EntityAlreadyExists", 409, f"The Server Certificate with name {name.upper()} already exists.")

    listed = iam.list_server_certificates(PathPrefix="/cloudfront/")["ServerCertificateMetadataList"]
    assert [m["ServerCertificateName"] for m in listed] == [name]
    new_name = unique("renamed")
    iam.update_server_certificate(ServerCertificateName=name, NewServerCertificateName=new_name, NewPath="/")
    assert iam.get_server_certificate(ServerCertificateName=new_name)["ServerCertificate"][
        "ServerCertificateMetadata"]["Path"] == "/"
    iam.tag_server_certificate(ServerCertificateName=new_name, Tags=[{"Key": "team", "Value": "web"}])
    iam.untag_server_certificate(ServerCertificateName=new_name, TagKeys=["env"])
    assert iam.list_server_certificate_tags(ServerCertificateName=new_name)["Tags"] == [
        {"Key": "team", "Value": "web"}]
    iam.delete_server_certificate(ServerCertificateName=new_name)
    with pytest.raises(ClientError) as e:
        iam.get_server_certificate(ServerCertificateName=new_name)
    assert error(e) == ("NoSuchEntity", 404, f"The Server Certificate with name {new_name} cannot be found.")
