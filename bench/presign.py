#!/usr/bin/env python3
"""Pre-signed requests for bench/postgres.sh (loopback endpoints only).

  presign.py getuser ENDPOINT KEY_ID SECRET USER OUT.lua
      A wrk script replaying ONE SigV4-signed GetUser for USER.

  presign.py createuser ENDPOINT KEY_ID SECRET PREFIX COUNT OUT.lua
      A wrk script sending COUNT different CreateUser requests (users PREFIX-0 … PREFIX-N),
      each signed once; wrk's threads take every THREADS-th one, so no name is sent twice.
      More requests than COUNT would repeat names: size COUNT above rate × duration.

  presign.py getuser-session ENDPOINT KEY_ID SECRET SESSION_TOKEN USER OUT.lua
      The same, signed with temporary credentials (X-Amz-Security-Token, signed).

  presign.py assumerole ENDPOINT KEY_ID SECRET ROLE_ARN OUT.lua
      A wrk script replaying ONE signed sts:AssumeRole of ROLE_ARN (each answer is a new
      session).

  presign.py replay ENDPOINT KEY_ID SECRET USER N
      Sends N signed GetUser requests on one keep-alive connection, each answered 200, and
      prints how long they took (for counting database statements per request).

Signatures are computed here with hmac (SigV4, service iam, region us-east-1), not botocore:
botocore takes about a millisecond per request, too slow for tens of thousands; the server
checking every one of them is what proves them right.
"""

import datetime
import hashlib
import hmac
import http.client
import sys
import time
from urllib.parse import urlsplit

REGION = "us-east-1"
SERVICE = "iam"
CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8"


def loopback(endpoint):
    parts = urlsplit(endpoint)
    if not (parts.hostname == "localhost" or (parts.hostname or "").startswith("127.")):
        sys.exit(f"presign.py: {endpoint} is not a loopback address")
    return parts.netloc


def signer(key_id, secret, now, service=SERVICE, token=None):
    date = now.strftime("%Y%m%d")
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    key = f"AWS4{secret}".encode()
    for part in (date, REGION, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    scope = f"{date}/{REGION}/{service}/aws4_request"
    signed = "content-type;host;x-amz-date" + (";x-amz-security-token" if token else "")

    def sign(host, body):
        headers = [f"content-type:{CONTENT_TYPE}", f"host:{host}", f"x-amz-date:{stamp}"]
        if token:
            headers.append(f"x-amz-security-token:{token}")
        canonical = "\n".join([
            "POST", "/", "", *headers, "", signed,
            hashlib.sha256(body.encode()).hexdigest(),
        ])
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope,
                             hashlib.sha256(canonical.encode()).hexdigest()])
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return stamp, (f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, "
                       f"SignedHeaders={signed}, Signature={signature}")

    return sign


def lua(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def one_request(endpoint, key_id, secret, body, out, service=SERVICE, token=None):
    host = loopback(endpoint)
    stamp, auth = signer(key_id, secret, datetime.datetime.now(datetime.timezone.utc), service, token)(host, body)
    headers = [("Host", host), ("Content-Type", CONTENT_TYPE), ("X-Amz-Date", stamp), ("Authorization", auth)]
    if token:
        headers.append(("X-Amz-Security-Token", token))
    with open(out, "w") as f:
        f.write("-- One signed request, replayed as is (bench/presign.py).\n")
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {lua(body)}\n")
        for name, value in headers:
            f.write(f"wrk.headers[{lua(name)}] = {lua(value)}\n")


def getuser(endpoint, key_id, secret, user, out):
    one_request(endpoint, key_id, secret, f"Action=GetUser&UserName={user}&Version=2010-05-08", out)


def getuser_session(endpoint, key_id, secret, token, user, out):
    one_request(endpoint, key_id, secret, f"Action=GetUser&UserName={user}&Version=2010-05-08", out,
                token=token)


def assumerole(endpoint, key_id, secret, role_arn, out):
    from urllib.parse import quote

    body = f"Action=AssumeRole&RoleArn={quote(role_arn, safe='')}&RoleSessionName=bench&Version=2011-06-15"
    one_request(endpoint, key_id, secret, body, out, service="sts")


def createuser(endpoint, key_id, secret, prefix, count, out):
    host = loopback(endpoint)
    sign = signer(key_id, secret, datetime.datetime.now(datetime.timezone.utc))
    data = out + ".data.lua"
    with open(data, "w") as f:
        f.write("return {\n")
        for i in range(int(count)):
            body = f"Action=CreateUser&UserName={prefix}-{i}&Version=2010-05-08"
            stamp, auth = sign(host, body)
            f.write(f"{{{lua(body)},{lua(stamp)},{lua(auth)}}},\n")
        f.write("}\n")
    with open(out, "w") as f:
        f.write(f"""-- {count} different signed CreateUser requests (bench/presign.py).
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
  thread:set("first", #threads - 1)
end
function init(args)
  requests = dofile({lua(data)})
  stride = tonumber(args[1]) or 1
  next_index = first
end
function request()
  local r = requests[next_index % #requests + 1]
  next_index = next_index + stride
  return wrk.format("POST", "/", {{["Host"] = {lua(host)}, ["Content-Type"] = {lua(CONTENT_TYPE)},
    ["X-Amz-Date"] = r[2], ["Authorization"] = r[3]}}, r[1])
end
""")


def replay(endpoint, key_id, secret, user, n):
    host = loopback(endpoint)
    body = f"Action=GetUser&UserName={user}&Version=2010-05-08"
    stamp, auth = signer(key_id, secret, datetime.datetime.now(datetime.timezone.utc))(host, body)
    headers = {"Host": host, "Content-Type": CONTENT_TYPE, "X-Amz-Date": stamp, "Authorization": auth}
    conn = http.client.HTTPConnection(*host.split(":"))
    started = time.monotonic()
    for _ in range(int(n)):
        conn.request("POST", "/", body=body, headers=headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200 or b"<GetUserResponse" not in answer:
            sys.exit(f"presign.py: GetUser answered {resp.status}: {answer[:300]!r}")
    print(f"{n} GetUser requests answered 200 in {time.monotonic() - started:.1f} s")


def main(argv):
    commands = {"getuser": (getuser, 5), "createuser": (createuser, 6), "replay": (replay, 5),
                "getuser-session": (getuser_session, 6), "assumerole": (assumerole, 5)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        sys.exit(__doc__)
    command, _ = commands[argv[1]]
    command(*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
