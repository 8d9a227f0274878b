"""Terraform, the tool most platform teams manage IAM with: the hashicorp/aws provider applies,
plans again with no changes, and destroys a configuration of users, groups and memberships,
roles with trust policies, customer managed policies with attachments, inline policies, an
instance profile, a login profile, an access key and tags against Gatehouse.

Nothing is downloaded: the provider comes from a local filesystem mirror (the machine image's
`/opt/tf-plugins`, or `GATEHOUSE_TF_MIRROR`). Skipped, saying why, where `terraform` or the
mirror is missing.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

PROVIDER_VERSION = "5.100.0"
MIRROR = Path(os.environ.get("GATEHOUSE_TF_MIRROR", "/opt/tf-plugins"))

pytestmark = [
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed on this machine"),
    pytest.mark.skipif(
        not (MIRROR / "registry.terraform.io/hashicorp/aws" / PROVIDER_VERSION).is_dir(),
        reason=f"no hashicorp/aws {PROVIDER_VERSION} in the provider mirror {MIRROR}",
    ),
]


def configuration(endpoint, key_id, secret):
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    read = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    get_user = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}]}
    sqs = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sqs:*", "Resource": "*"}]}
    j = json.dumps
    return f"""
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws", version = "{PROVIDER_VERSION}" }}
  }}
}}
provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "{key_id}"
  secret_key                  = "{secret}"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {{
    iam = "{endpoint}"
    sts = "{endpoint}"
  }}
}}
resource "aws_iam_user" "alice" {{
  name = "tf-alice"
  path = "/eng/"
  tags = {{ team = "blue" }}
}}
resource "aws_iam_access_key" "alice" {{
  user = aws_iam_user.alice.name
}}
resource "aws_iam_user_login_profile" "alice" {{
  user                    = aws_iam_user.alice.name
  password_reset_required = true
}}
resource "aws_iam_group" "devs" {{
  name = "tf-devs"
}}
resource "aws_iam_group_membership" "devs" {{
  name  = "tf-devs-membership"
  group = aws_iam_group.devs.name
  users = [aws_iam_user.alice.name]
}}
resource "aws_iam_policy" "read" {{
  name   = "tf-read"
  policy = {j(j(read))}
  tags   = {{ owner = "platform" }}
}}
resource "aws_iam_group_policy_attachment" "devs_read" {{
  group      = aws_iam_group.devs.name
  policy_arn = aws_iam_policy.read.arn
}}
resource "aws_iam_user_policy" "alice_inline" {{
  name   = "inline"
  user   = aws_iam_user.alice.name
  policy = {j(j(get_user))}
}}
resource "aws_iam_role" "app" {{
  name               = "tf-app"
  assume_role_policy = {j(j(trust))}
  tags               = {{ app = "web" }}
}}
resource "aws_iam_role_policy" "app_inline" {{
  name   = "inline"
  role   = aws_iam_role.app.id
  policy = {j(j(sqs))}
}}
resource "aws_iam_role_policy_attachment" "app_read" {{
  role       = aws_iam_role.app.name
  policy_arn = aws_iam_policy.read.arn
}}
resource "aws_iam_instance_profile" "app" {{
  name = "tf-app"
  role = aws_iam_role.app.name
}}
"""


def terraform(workdir, *args, timeout=600):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env["TF_CLI_CONFIG_FILE"] = str(workdir / "cli.tfrc")
    env["TF_IN_AUTOMATION"] = "1"
    env["CHECKPOINT_DISABLE"] = "1"
    return subprocess.run(["terraform", *args, "-no-color", "-input=false"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_terraform_applies_plans_clean_and_destroys(server, tmp_path):
    (tmp_path / "cli.tfrc").write_text(f"""
provider_installation {{
  filesystem_mirror {{
    path    = "{MIRROR}"
    include = ["registry.terraform.io/hashicorp/aws"]
  }}
  direct {{
    exclude = ["registry.terraform.io/hashicorp/aws"]
  }}
}}
""")
    (tmp_path / "main.tf").write_text(configuration(server.endpoint, server.root_key_id, server.root_secret))

    init = terraform(tmp_path, "init")
    assert init.returncode == 0, init.stdout + init.stderr
    applied = terraform(tmp_path, "apply", "-auto-approve")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "Resources: 12 added, 0 changed, 0 destroyed." in applied.stdout

    iam = server.iam()
    user = iam.get_user(UserName="tf-alice")["User"]
    assert user["Path"] == "/eng/" and user["Tags"] == [{"Key": "team", "Value": "blue"}]
    assert [u["UserName"] for u in iam.get_group(GroupName="tf-devs")["Users"]] == ["tf-alice"]
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName="tf-app")["InstanceProfile"]["Roles"]] == ["tf-app"]
    assert len(iam.list_access_keys(UserName="tf-alice")["AccessKeyMetadata"]) == 1
    assert iam.get_login_profile(UserName="tf-alice")["LoginProfile"]["PasswordResetRequired"] is True

    plan = terraform(tmp_path, "plan", "-detailed-exitcode")
    assert plan.returncode == 0, "a second plan must find no changes:\n" + plan.stdout + plan.stderr

    destroyed = terraform(tmp_path, "destroy", "-auto-approve")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "Resources: 12 destroyed." in destroyed.stdout
    names = [u["UserName"] for u in iam.list_users()["Users"]]
    assert "tf-alice" not in names
    assert "tf-app" not in [r["RoleName"] for r in iam.list_roles()["Roles"]]
