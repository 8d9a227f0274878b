#!/usr/bin/env bash
# Temporary credentials under wrk, in one run (see docs/PERFORMANCE.md):
#   - sts:AssumeRole, Gatehouse beside moto_server (each answer a new session);
#   - iam:GetUser signed with a role session's temporary credentials beside the same GetUser
#     signed with a user's long-term key, both allowed by the same one-statement policy.
#
#   bench/sts.sh
#
# Settings (environment): BENCH_DURATION (10, seconds), BENCH_CONNECTIONS (16), BENCH_THREADS
# (2), BENCH_PORT_BASE (18801: two ports), BENCH_OUT, BENCH_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
THREADS=${BENCH_THREADS:-2}
BASE=${BENCH_PORT_BASE:-18801}
GH_PORT=$BASE
MOTO_PORT=$((BASE + 1))
ROOT_KEY_ID=AKIAGATEHOUSEBENCH03
ROOT_SECRET=benchSecretKey0000000000000000000000000003
OUT=${BENCH_OUT:-$(mktemp -d /tmp/gatehouse-stsbench.XXXXXX)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gatehouse-stsbench-work.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/sts.sh: %s\n' "$*" >&2; exit 1; }

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >"$OUT/apt.log" 2>&1
command -v moto_server >/dev/null || die "moto_server not found (pip install 'moto[server]')"
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  say "cargo build --release -p gatehouse --bin gatehouse"
  cargo build --release -p gatehouse --bin gatehouse
fi
GATEHOUSE=$ROOT/target/release/gatehouse

wait_http() {
  for _ in $(seq 1 300); do
    curl -s -o /dev/null --max-time 2 "$1" && return 0
    sleep 0.1
  done
  die "nothing answers at $1"
}

say "starting gatehouse on 127.0.0.1:$GH_PORT and moto_server on 127.0.0.1:$MOTO_PORT"
GATEHOUSE_ROOT_ACCESS_KEY_ID=$ROOT_KEY_ID GATEHOUSE_ROOT_SECRET_ACCESS_KEY=$ROOT_SECRET GATEHOUSE_LOG=warn \
  "$GATEHOUSE" serve --listen "127.0.0.1:$GH_PORT" --data-dir "$WORK/data" >"$OUT/gatehouse.log" 2>&1 &
PIDS+=($!)
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$OUT/moto.log" 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$GH_PORT/health"
wait_http "http://127.0.0.1:$MOTO_PORT/"

# The same set-up in both: a role the caller may assume; in Gatehouse also a user with the
# role's policy, for the long-term-key GetUser.
timeout 120 python3 - "$GH_PORT" "$MOTO_PORT" "$ROOT_KEY_ID" "$ROOT_SECRET" "$WORK" <<'PY'
import json, sys
import boto3
gh_port, moto_port, key_id, secret, work = sys.argv[1:]
def client(service, port, k, s, token=None):
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id=k, aws_secret_access_key=s, aws_session_token=token)
doc = lambda *st: json.dumps({"Version": "2012-10-17", "Statement": list(st)})
read = doc({"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"})
out = {}
for name, port, k, s in (("gatehouse", gh_port, key_id, secret), ("moto", moto_port, "testing", "testing")):
    iam = client("iam", port, k, s)
    iam.create_user(UserName="bench")
    role = iam.create_role(RoleName="bench-role", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{iam.get_user(UserName='bench')['User']['Arn'].split(':')[4]}:root"},
         "Action": "sts:AssumeRole"}))["Role"]
    iam.put_role_policy(RoleName="bench-role", PolicyName="read", PolicyDocument=read)
    caller = iam.create_user(UserName="caller")["User"]
    iam.put_user_policy(UserName="caller", PolicyName="p", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role["Arn"]},
        {"Effect": "Allow", "Action": "iam:GetUser", "Resource": "*"}))
    key = iam.create_access_key(UserName="caller")["AccessKey"]
    out[name] = {"role": role["Arn"], "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    if name == "gatehouse":
        creds = client("sts", port, key["AccessKeyId"], key["SecretAccessKey"]).assume_role(
            RoleArn=role["Arn"], RoleSessionName="bench", DurationSeconds=3600)["Credentials"]
        out[name]["session"] = [creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]]
        client("iam", port, creds["AccessKeyId"], creds["SecretAccessKey"],
               token=creds["SessionToken"]).get_user(UserName="bench")
json.dump(out, open(f"{work}/setup.json", "w"))
PY
read -r GH_ROLE GH_KEY GH_SECRET S_KEY S_SECRET S_TOKEN MOTO_ROLE MOTO_KEY MOTO_SECRET < <(python3 -c "
import json; d = json.load(open('$WORK/setup.json')); g, m = d['gatehouse'], d['moto']
print(g['role'], g['key'], g['secret'], *g['session'], m['role'], m['key'], m['secret'])")

PRESIGN=(timeout 120 python3 "$ROOT/bench/presign.py")
GH="http://127.0.0.1:$GH_PORT"
MOTO="http://127.0.0.1:$MOTO_PORT"
"${PRESIGN[@]}" assumerole "$GH" "$GH_KEY" "$GH_SECRET" "$GH_ROLE" "$WORK/assume-gatehouse.lua"
"${PRESIGN[@]}" assumerole "$MOTO" "$MOTO_KEY" "$MOTO_SECRET" "$MOTO_ROLE" "$WORK/assume-moto.lua"
"${PRESIGN[@]}" getuser "$GH" "$GH_KEY" "$GH_SECRET" bench "$WORK/getuser-key.lua"
"${PRESIGN[@]}" getuser-session "$GH" "$S_KEY" "$S_SECRET" "$S_TOKEN" bench "$WORK/getuser-session.lua"

to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0
    if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
    printf "%.2f", n }'
}
declare -A RPS P99
for run in "assume-gatehouse $GH" "assume-moto $MOTO" "getuser-key $GH" "getuser-session $GH"; do
  read -r name url <<<"$run"
  say "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency -s $name.lua $url/"
  timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$WORK/$name.lua" "$url/" >"$OUT/$name.wrk.txt"
  if grep -Eq 'Socket errors|Non-2xx or 3xx' "$OUT/$name.wrk.txt"; then
    cat "$OUT/$name.wrk.txt" >&2
    die "$name: wrk saw errors (see $OUT/$name.wrk.txt)"
  fi
  RPS[$name]=$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/$name.wrk.txt")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$OUT/$name.wrk.txt")")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.lock 2>/dev/null || COMMIT="$COMMIT + uncommitted changes under crates/"
{
  echo
  echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, gatehouse at $COMMIT"
  echo
  echo "| run | req/s | p99 (ms) |"
  echo "|---|---:|---:|"
  for name in assume-gatehouse assume-moto getuser-key getuser-session; do
    printf '| %s | %s | %s |\n' "$name" "${RPS[$name]}" "${P99[$name]}"
  done
  echo
  echo "AssumeRole: gatehouse / moto = $(ratio "${RPS[assume-gatehouse]}" "${RPS[assume-moto]}")x"
  echo "GetUser with a role session's temporary credentials / with a long-term key = $(ratio "${RPS[getuser-session]}" "${RPS[getuser-key]}") (target: at most 10% more cost, >= 0.91)"
  echo "raw outputs: $OUT"
} | tee "$OUT/summary.txt"
