"""GetAccountAuthorizationDetails is read by the tools security teams run on it: cloudsplaining
and parliament (PyPI) consume the aws CLI's output without error and report what the account
holds — here a user who may escalate (iam:PassRole with ec2:RunInstances, on "*") and a
misspelt action that IAM accepts and parliament knows is unknown.
"""

import json
import subprocess
import sys

import pytest

from conftest import unique


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


@pytest.fixture(scope="module")
def gaad(server, tmp_path_factory):
    iam = server.iam()
    names = {"escalator": unique("escalator"), "admin_role": unique("adminrole"), "typo": unique("typo"),
             "group": unique("devs")}
    iam.create_user(UserName=names["escalator"])
    iam.put_user_policy(UserName=names["escalator"], PolicyName="launch", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["iam:PassRole", "ec2:RunInstances"], "Resource": "*"}))
    iam.create_role(RoleName=names["admin_role"], AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    iam.attach_role_policy(RoleName=names["admin_role"], PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_group(GroupName=names["group"])
    names["policy"] = iam.create_policy(PolicyName=names["typo"], PolicyDocument=doc(
        {"Effect": "Allow", "Action": "s3:GetObjct", "Resource": "*"}))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=names["group"], PolicyArn=names["policy"])
    out = tmp_path_factory.mktemp("gaad")
    details = server.cli("iam", "get-account-authorization-details")
    path = out / "account.json"
    path.write_text(json.dumps(details))
    return {"path": path, "dir": out, "names": names, "details": details}


def test_the_cli_output_has_every_kind_of_entry(gaad):
    d = gaad["details"]
    names = gaad["names"]
    assert names["escalator"] in [u["UserName"] for u in d["UserDetailList"]]
    assert names["admin_role"] in [r["RoleName"] for r in d["RoleDetailList"]]
    assert names["group"] in [g["GroupName"] for g in d["GroupDetailList"]]
    arns = [p["Arn"] for p in d["Policies"]]
    assert names["policy"] in arns and "arn:aws:iam::aws:policy/AdministratorAccess" in arns


def test_cloudsplaining_reads_it_and_finds_the_risks(gaad):
    out = gaad["dir"] / "cloudsplaining"
    out.mkdir()
    result = subprocess.run([sys.executable, "-m", "cloudsplaining.bin.cli", "scan", "--input-file",
                             str(gaad["path"]), "--output", str(out), "--skip-open-report"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(next(out.glob("iam-results-*.json")).read_text())
    names = gaad["names"]
    # The inline policy that lets a user pass any role to EC2 is a privilege-escalation finding
    # on that user.
    launch = next(p for p in results["inline_policies"].values() if p["PolicyName"] == "launch")
    assert launch["AttachedTo"]["users"] == [names["escalator"]]
    assert "CreateEC2WithExistingIP" in [f["type"] for f in launch["PrivilegeEscalation"]["findings"]]
    # Every entity is read: the role, and the customer policy with the group it is attached to.
    assert names["admin_role"] in [r["name"] for r in results["roles"].values()]
    typo = next(p for p in results["customer_managed_policies"].values() if p["PolicyName"] == names["typo"])
    assert typo["AttachedTo"]["groups"] == [names["group"]]


def test_parliament_reads_it_and_flags_the_unknown_action(gaad):
    result = subprocess.run([sys.executable, "-m", "parliament.cli", "--auth-details-file", str(gaad["path"]),
                             "--json"], capture_output=True, text=True, timeout=300)
    assert "Traceback" not in result.stderr, result.stderr
    findings = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    issues = {f["issue"] for f in findings}
    assert "UNKNOWN_ACTION" in issues, findings
    unknown = [f for f in findings if f["issue"] == "UNKNOWN_ACTION"]
    assert any(gaad["names"]["typo"] in json.dumps(f) for f in unknown), unknown
