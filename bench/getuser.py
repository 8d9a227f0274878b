#!/usr/bin/env python3
"""Helpers for bench/getuser.sh (boto3/botocore only; loopback endpoints only).

  getuser.py create-user ENDPOINT KEY_ID SECRET USER
      Creates USER with boto3 (an existing user is fine).

  getuser.py create-caller ENDPOINT KEY_ID SECRET CALLER POLICIES TARGET OUT_FILE
  getuser.py create-managed-caller ENDPOINT KEY_ID SECRET CALLER TARGET OUT_FILE
      Creates the user CALLER with POLICIES inline policies (the last one allows iam:GetUser
      on TARGET, the others on other paths, so every one is evaluated) and an access key,
      written to OUT_FILE as "KEY_ID SECRET".

  getuser.py sign ENDPOINT KEY_ID SECRET USER OUT_PREFIX
      Signs ONE GetUser request with botocore's SigV4Auth (POST form body, service iam,
      region us-east-1) and writes OUT_PREFIX.lua (a wrk script replaying it byte for byte:
      method, body and every header, Host, X-Amz-Date, Authorization and Content-Type
      included) and OUT_PREFIX.curl (a curl config sending the very same request).
"""

import sys
from urllib.parse import urlsplit

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials
from botocore.config import Config

REGION = "us-east-1"


def check_loopback(endpoint):
    host = urlsplit(endpoint).hostname or ""
    if not (host == "localhost" or host.startswith("127.") or host == "::1"):
        sys.exit(f"getuser.py: {endpoint} is not a loopback address")


def create_user(endpoint, key_id, secret, user):
    check_loopback(endpoint)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )
    try:
        iam.create_user(UserName=user)
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    got = iam.get_user(UserName=user)["User"]
    print(f"user {got['UserName']} ({got['Arn']}) at {endpoint}")


def create_caller(endpoint, key_id, secret, caller, policies, target, out_file):
    check_loopback(endpoint)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )
    iam.create_user(UserName=caller)
    account = iam.get_user(UserName=caller)["User"]["Arn"].split(":")[4]
    count = int(policies)
    for i in range(count):
        resource = (f"arn:aws:iam::{account}:user/{target}" if i == count - 1
                    else f"arn:aws:iam::{account}:user/team{i}/*")
        document = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser",'
                    f'"Resource":"{resource}"}}]}}')
        iam.put_user_policy(UserName=caller, PolicyName=f"p{i}", PolicyDocument=document)
    key = iam.create_access_key(UserName=caller)["AccessKey"]
    with open(out_file, "w") as f:
        f.write(f"{key['AccessKeyId']} {key['SecretAccessKey']}\n")
    print(f"user {caller} with {count} inline policies and key {key['AccessKeyId']} at {endpoint}")


def create_managed_caller(endpoint, key_id, secret, caller, target, out_file):
    """A user with 10 attached customer managed policies (the last allows GetUser on TARGET)
    and two groups, each with a policy of its own."""
    check_loopback(endpoint)
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=10),
    )
    iam.create_user(UserName=caller)
    account = iam.get_user(UserName=caller)["User"]["Arn"].split(":")[4]

    def allow(resource):
        return ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:GetUser",'
                f'"Resource":"{resource}"}}]}}')

    for i in range(10):
        resource = (f"arn:aws:iam::{account}:user/{target}" if i == 9
                    else f"arn:aws:iam::{account}:user/team{i}/*")
        arn = iam.create_policy(PolicyName=f"{caller}-m{i}", PolicyDocument=allow(resource))["Policy"]["Arn"]
        iam.attach_user_policy(UserName=caller, PolicyArn=arn)
    for g in range(2):
        group = f"{caller}-g{g}"
        iam.create_group(GroupName=group)
        iam.put_group_policy(GroupName=group, PolicyName="p",
                             PolicyDocument=allow(f"arn:aws:iam::{account}:user/group{g}/*"))
        iam.add_user_to_group(GroupName=group, UserName=caller)
    key = iam.create_access_key(UserName=caller)["AccessKey"]
    with open(out_file, "w") as f:
        f.write(f"{key['AccessKeyId']} {key['SecretAccessKey']}\n")
    print(f"user {caller} with 10 managed policies and 2 groups, key {key['AccessKeyId']} at {endpoint}")


def lua_string(s):
    # A Lua long-bracket-free quoted string: escape backslash, quote and control characters.
    out = []
    for ch in s:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 32 or ord(ch) > 126:
            out.append("\\%03d" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def curl_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sign(endpoint, key_id, secret, user, out_prefix):
    check_loopback(endpoint)
    url = endpoint.rstrip("/") + "/"
    body = f"Action=GetUser&UserName={user}&Version=2010-05-08"
    request = botocore.awsrequest.AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            # Set explicitly so that the header signed is the header sent, by wrk and curl alike.
            "Host": urlsplit(url).netloc,
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
        },
    )
    credentials = botocore.credentials.Credentials(key_id, secret)
    botocore.auth.SigV4Auth(credentials, "iam", REGION).add_auth(request)
    headers = dict(request.headers.items())
    for required in ("Host", "X-Amz-Date", "Authorization", "Content-Type"):
        if required not in headers:
            sys.exit(f"getuser.py: the signed request has no {required} header")

    with open(out_prefix + ".lua", "w") as f:
        f.write("-- One SigV4-signed GetUser request, replayed as is (written by bench/getuser.py).\n")
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {lua_string(body)}\n")
        for name, value in headers.items():
            f.write(f"wrk.headers[{lua_string(name)}] = {lua_string(value)}\n")
    with open(out_prefix + ".curl", "w") as f:
        f.write(f"url = {curl_string(url)}\n")
        f.write('request = "POST"\n')
        for name, value in headers.items():
            f.write(f"header = {curl_string(f'{name}: {value}')}\n")
        f.write(f"data-binary = {curl_string(body)}\n")
    print(f"signed GetUser for {url} at {headers['X-Amz-Date']}")


def main(argv):
    if len(argv) == 6 and argv[1] == "create-user":
        create_user(*argv[2:6])
    elif len(argv) == 9 and argv[1] == "create-caller":
        create_caller(*argv[2:9])
    elif len(argv) == 8 and argv[1] == "create-managed-caller":
        create_managed_caller(*argv[2:8])
    elif len(argv) == 7 and argv[1] == "sign":
        sign(*argv[2:7])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
