"""Every state-changing call that fails — validation, quota, conflict, denial — leaves the store
exactly as it was. Each call is checked against a full logical dump of the store read straight
from its SQLite file (every table: keys, login profiles, certificates and providers included),
before and after.
"""

import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ALLOW = doc({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"})
TRUST = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
BIG = doc(*[{"Effect": "Allow", "Action": f"iam:GetUser{i}", "Resource": "*"} for i in range(400)])


@pytest.fixture(scope="module")
def world(server, tmp_path_factory):
    iam = server.iam()
    d = tmp_path_factory.mktemp("pki")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=w",
                    "-keyout", str(d / "k"), "-out", str(d / "c")], check=True, capture_output=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", str(d / "ssh")], check=True)
    w = {"cert": (d / "c").read_text(), "key": (d / "k").read_text(), "ssh": (d / "ssh.pub").read_text()}
    w["user"] = iam.create_user(UserName=unique("u"), Tags=[{"Key": "k", "Value": "v"}])["User"]["UserName"]
    for _ in range(2):
        iam.create_access_key(UserName=w["user"])
    iam.create_login_profile(UserName=w["user"], Password="Initial-pass-1")
    iam.upload_ssh_public_key(UserName=w["user"], SSHPublicKeyBody=w["ssh"])
    iam.upload_signing_certificate(UserName=w["user"], CertificateBody=w["cert"])
    iam.create_service_specific_credential(UserName=w["user"], ServiceName="codecommit.amazonaws.com")
    w["group"] = iam.create_group(GroupName=unique("g"))["Group"]["GroupName"]
    iam.add_user_to_group(GroupName=w["group"], UserName=w["user"])
    w["role"] = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST)["Role"]["RoleName"]
    w["policy"] = iam.create_policy(PolicyName=unique("p"), PolicyDocument=ALLOW)["Policy"]["Arn"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=w["policy"], PolicyDocument=ALLOW)
    iam.attach_user_policy(UserName=w["user"], PolicyArn=w["policy"])
    w["profile"] = iam.create_instance_profile(InstanceProfileName=unique("ip"))["InstanceProfile"][
        "InstanceProfileName"]
    iam.add_role_to_instance_profile(InstanceProfileName=w["profile"], RoleName=w["role"])
    w["oidc"] = iam.create_open_id_connect_provider(Url=f"https://{unique('idp')}.example.com",
                                                    ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    w["server_cert"] = unique("sc")
    iam.upload_server_certificate(ServerCertificateName=w["server_cert"], CertificateBody=w["cert"],
                                  PrivateKey=w["key"])
    w["slr"] = iam.create_service_linked_role(AWSServiceName="ecs.amazonaws.com")["Role"]["RoleName"]
    nobody = iam.create_user(UserName=unique("nobody"))["User"]["UserName"]
    key = iam.create_access_key(UserName=nobody)["AccessKey"]
    w["denied"] = server.iam(key["AccessKeyId"], key["SecretAccessKey"])
    return w


def failing_calls(iam, w):
    u, g, r, p = w["user"], w["group"], w["role"], w["policy"]
    return [
        # validation
        ("MalformedPolicyDocument", lambda: iam.create_policy(PolicyName=unique("p"), PolicyDocument="{not json")),
        ("MalformedPolicyDocument", lambda: iam.put_user_policy(UserName=u, PolicyName="x", PolicyDocument=
                                                                '{"Version":"2012-10-17","Statement":[]}')),
        ("ValidationError", lambda: iam.create_user(UserName="bad name!")),
        ("InvalidInput", lambda: iam.tag_user(UserName=u, Tags=[{"Key": "aws:reserved", "Value": "x"}])),
        ("MalformedCertificate", lambda: iam.upload_signing_certificate(UserName=u, CertificateBody="nope")),
        ("UnrecognizedPublicKeyEncoding", lambda: iam.upload_ssh_public_key(UserName=u, SSHPublicKeyBody="nope")),
        ("KeyPairMismatch", lambda: iam.upload_server_certificate(
            ServerCertificateName=unique("sc"), CertificateBody=w["cert"], PrivateKey=_other_key())),
        ("InvalidInput", lambda: iam.create_saml_provider(Name=unique("s"), SAMLMetadataDocument="x" * 1000)),
        ("InvalidInput", lambda: iam.create_open_id_connect_provider(Url="http://insecure.example.com",
                                                                     ThumbprintList=["a" * 40])),
        ("PasswordPolicyViolation", lambda: iam.update_login_profile(UserName=u, Password="x")),
        ("NotSupportedService", lambda: iam.create_service_specific_credential(UserName=u,
                                                                               ServiceName="s3.amazonaws.com")),
        ("InvalidInput", lambda: iam.create_service_linked_role(AWSServiceName="nothing.example.com")),
        # quotas
        ("LimitExceeded", lambda: iam.create_access_key(UserName=u)),
        ("LimitExceeded", lambda: iam.create_policy_version(PolicyArn=p, PolicyDocument=ALLOW)),
        ("LimitExceeded", lambda: iam.put_user_policy(UserName=u, PolicyName="big", PolicyDocument=BIG)),
        ("LimitExceeded", lambda: iam.tag_user(UserName=u, Tags=[{"Key": f"t{i}", "Value": "v"} for i in range(50)])),
        ("LimitExceeded", lambda: iam.add_role_to_instance_profile(InstanceProfileName=w["profile"],
                                                                   RoleName=w["slr"])),
        # conflicts
        ("EntityAlreadyExists", lambda: iam.create_user(UserName=u.upper())),
        ("EntityAlreadyExists", lambda: iam.create_group(GroupName=g)),
        ("EntityAlreadyExists", lambda: iam.create_login_profile(UserName=u, Password="Another-pass-1")),
        ("EntityAlreadyExists", lambda: iam.upload_server_certificate(
            ServerCertificateName=w["server_cert"], CertificateBody=w["cert"], PrivateKey=w["key"])),
        ("DeleteConflict", lambda: iam.delete_user(UserName=u)),
        ("DeleteConflict", lambda: iam.delete_group(GroupName=g)),
        ("DeleteConflict", lambda: iam.delete_role(RoleName=r)),
        ("DeleteConflict", lambda: iam.delete_policy(PolicyArn=p)),
        ("DeleteConflict", lambda: iam.delete_policy_version(PolicyArn=p, VersionId="v1")),
        ("DeleteConflict", lambda: iam.delete_instance_profile(InstanceProfileName=w["profile"])),
        ("DuplicateSSHPublicKey", lambda: iam.upload_ssh_public_key(UserName=u, SSHPublicKeyBody=w["ssh"])),
        ("DuplicateCertificate", lambda: iam.upload_signing_certificate(UserName=u, CertificateBody=w["cert"])),
        ("UnmodifiableEntity", lambda: iam.delete_role(RoleName=w["slr"])),
        ("UnmodifiableEntity", lambda: iam.delete_policy(PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")),
        ("NoSuchEntity", lambda: iam.detach_user_policy(UserName=u, PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")),
        ("NoSuchEntity", lambda: iam.remove_user_from_group(GroupName=g, UserName=unique("ghost"))),
        ("NoSuchEntity", lambda: iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=w["oidc"] + "x")),
    ]


def denied_calls(a, w):
    u, g, r, p = w["user"], w["group"], w["role"], w["policy"]
    return [
        lambda: a.create_user(UserName=unique("d")),
        lambda: a.delete_user(UserName=u),
        lambda: a.create_access_key(UserName=u),
        lambda: a.update_login_profile(UserName=u, Password="Denied-pass-1"),
        lambda: a.put_group_policy(GroupName=g, PolicyName="x", PolicyDocument=ALLOW),
        lambda: a.add_user_to_group(GroupName=g, UserName=u),
        lambda: a.update_assume_role_policy(RoleName=r, PolicyDocument=TRUST),
        lambda: a.attach_role_policy(RoleName=r, PolicyArn=p),
        lambda: a.create_policy_version(PolicyArn=p, PolicyDocument=ALLOW),
        lambda: a.put_user_permissions_boundary(UserName=u, PermissionsBoundary=p),
        lambda: a.tag_role(RoleName=r, Tags=[{"Key": "k", "Value": "v"}]),
        lambda: a.remove_role_from_instance_profile(InstanceProfileName=w["profile"], RoleName=r),
        lambda: a.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=w["oidc"],
                                                             ThumbprintList=["b" * 40]),
        lambda: a.delete_server_certificate(ServerCertificateName=w["server_cert"]),
        lambda: a.upload_ssh_public_key(UserName=u, SSHPublicKeyBody=w["ssh"]),
        lambda: a.reset_service_specific_credential(UserName=u, ServiceSpecificCredentialId="ACCA" + "A" * 17),
        lambda: a.create_account_alias(AccountAlias=unique("alias")),
        lambda: a.update_account_password_policy(MinimumPasswordLength=6),
        lambda: a.create_service_linked_role(AWSServiceName="rds.amazonaws.com"),
        lambda: a.generate_credential_report(),
    ]


_OTHER = {}


def _other_key():
    if "key" not in _OTHER:
        _OTHER["key"] = subprocess.run(["openssl", "genrsa", "2048"], check=True, capture_output=True,
                                       text=True).stdout
    return _OTHER["key"]


def test_failing_calls_of_every_family_change_nothing(server, world):
    iam = server.iam()
    for code, call in failing_calls(iam, world):
        before = server.store_dump()
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == code, (code, e.value.response["Error"])
        after = server.store_dump()
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"{code}: rows changed: {changed}"


def test_denied_calls_change_nothing(server, world):
    for call in denied_calls(world["denied"], world):
        before = server.store_dump()
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied", e.value.response["Error"]
        after = server.store_dump()
        changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
        assert not changed, f"rows changed: {changed}"
