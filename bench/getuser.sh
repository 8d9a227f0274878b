#!/usr/bin/env bash
# GetUser over HTTP with full SigV4 verification: Gatehouse beside moto_server and a minimal
# hyper server (the ceiling of this machine), all in one run. See docs/PERFORMANCE.md.
#
#   bench/getuser.sh
#
# What it does, in order:
#   1. installs wrk (Debian's package) if missing; builds `gatehouse` and the bench-only
#      example `ceiling` in release;
#   2. starts, on 127.0.0.1 only: gatehouse (fresh temporary data dir, fixed root key from
#      GATEHOUSE_ROOT_ACCESS_KEY_ID / GATEHOUSE_ROOT_SECRET_ACCESS_KEY, which Gatehouse keeps in
#      its store like any key, so every request reads and decrypts it from SQLite),
#      moto_server, and the ceiling (crates/server/examples/ceiling.rs) twice: as issue 2 defines it
#      (a minimal hyper server on a multi-thread tokio runtime), and on Gatehouse's own threading
#      (`--per-core`: one pinned worker per CPU, connections on the CPU that receives them);
#   3. creates the user `bench` in gatehouse and in moto (boto3), and in gatehouse the user
#      `caller` with 10 inline policies and an access key (the `gatehouse-user` run: the same
#      GetUser, signed by that user instead of root, so every request is authorized by the
#      policy engine against 10 policies), and the user `managed` with 10 attached customer
#      managed policies and two groups with a policy each (the `gatehouse-managed` run);
#   4. for each server in turn: signs ONE GetUser request with botocore (SigV4Auth, POST form
#      body, service iam, region us-east-1, that server's root key), checks it once with curl
#      (HTTP 200 and a GetUserResponse for user bench), then replays it with
#        wrk -t2 -c16 -d15s --latency -s SCRIPT.lua URL
#      and refuses the result if wrk saw any socket error or non-2xx answer;
#   5. prints a table (req/s, p50, p99, the server's CPU time per request, and how many cores
#      other processes on the machine took during that run) and stops every server (trap on
#      exit). Raw outputs stay in BENCH_OUT.
#
# Settings (environment): BENCH_THREADS (2), BENCH_CONNECTIONS (16), BENCH_DURATION (15s; in seconds),
# BENCH_PORT_BASE (18601: uses 4 ports from there), BENCH_OUT (where the raw wrk outputs are
# kept; default a new directory under /tmp), BENCH_SKIP_BUILD=1 (use the binaries already in
# target/release), BENCH_WAIT_IDLE=N (before each run, wait up to N seconds for the machine to be
# at least 90 % idle: useful on a shared machine), BENCH_ATTEMPTS=N (run a server again, up to N
# times in all, while other processes took more than 0.25 cores during its run; every attempt's
# wrk output is kept, the table shows the last).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
DURATION=${BENCH_DURATION:-15s}
PORT_BASE=${BENCH_PORT_BASE:-18601}
GH_PORT=$PORT_BASE
MOTO_PORT=$((PORT_BASE + 1))
CEILING_PORT=$((PORT_BASE + 2))
PER_CORE_PORT=$((PORT_BASE + 3))
USER_NAME=bench
ATTEMPTS=${BENCH_ATTEMPTS:-1}
# A fixed root key for gatehouse (any well-formed pair; nothing outside this run uses it).
ROOT_KEY_ID=AKIAGATEHOUSEBENCH01
ROOT_SECRET=benchSecretKey0000000000000000000000000000
MOTO_KEY_ID=testing
MOTO_SECRET=testing

OUT=${BENCH_OUT:-$(mktemp -d /tmp/gatehouse-bench.XXXXXX)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gatehouse-bench-work.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    # Bounded: a server that ignores SIGTERM for 10 s gets SIGKILL.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/getuser.sh: %s\n' "$*" >&2; exit 1; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Waits (at most 60 s) until URL answers HTTP at all.
wait_http() {
  local url=$1 pid=$2 name=$3
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || die "$name exited during start-up (see $OUT/$name.log)"
    if curl -s -o /dev/null --max-time 2 "$url"; then return 0; fi
    sleep 0.1
  done
  die "$name did not answer at $url within 60 s"
}

# --- 1. tools and binaries ---------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  say "installing wrk"
  if ! timeout 600 apt-get install -y wrk >"$OUT/apt.log" 2>&1; then
    timeout 600 apt-get update >>"$OUT/apt.log" 2>&1
    timeout 600 apt-get install -y wrk >>"$OUT/apt.log" 2>&1 || die "cannot install wrk (see $OUT/apt.log)"
  fi
fi
command -v moto_server >/dev/null || die "moto_server not found (pip install 'moto[server]')"
python3 -c 'import boto3, botocore' 2>/dev/null || die "boto3 not found (pip install boto3)"

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  say "cargo build --release -p gatehouse --bin gatehouse --example ceiling"
  timeout 3600 cargo build --release -p gatehouse --bin gatehouse --example ceiling
fi
GATEHOUSE=$ROOT/target/release/gatehouse
CEILING=$ROOT/target/release/examples/ceiling
[[ -x $GATEHOUSE && -x $CEILING ]] || die "release binaries missing; run without BENCH_SKIP_BUILD"

for port in "$GH_PORT" "$MOTO_PORT" "$CEILING_PORT" "$PER_CORE_PORT"; do
  port_in_use "$port" && die "port $port is already in use on 127.0.0.1; set BENCH_PORT_BASE"
done

# --- 2. servers, loopback only -------------------------------------------------------------
say "starting gatehouse on 127.0.0.1:$GH_PORT"
GATEHOUSE_ROOT_ACCESS_KEY_ID=$ROOT_KEY_ID GATEHOUSE_ROOT_SECRET_ACCESS_KEY=$ROOT_SECRET \
  "$GATEHOUSE" serve --listen "127.0.0.1:$GH_PORT" --data-dir "$WORK/gatehouse-data" \
  >"$OUT/gatehouse.log" 2>&1 &
PIDS+=($!)
GH_PID=$!
wait_http "http://127.0.0.1:$GH_PORT/health" "$!" gatehouse

say "starting moto_server on 127.0.0.1:$MOTO_PORT"
moto_server -H 127.0.0.1 -p "$MOTO_PORT" >"$OUT/moto.log" 2>&1 &
PIDS+=($!)
MOTO_PID=$!
wait_http "http://127.0.0.1:$MOTO_PORT/" "$!" moto

say "starting the ceiling on 127.0.0.1:$CEILING_PORT"
"$CEILING" "127.0.0.1:$CEILING_PORT" >"$OUT/ceiling.log" 2>&1 &
PIDS+=($!)
CEILING_PID=$!
wait_http "http://127.0.0.1:$CEILING_PORT/" "$!" ceiling

say "starting the ceiling on Gatehouse's threading (--per-core) on 127.0.0.1:$PER_CORE_PORT"
"$CEILING" "127.0.0.1:$PER_CORE_PORT" --per-core >"$OUT/ceiling-per-core.log" 2>&1 &
PIDS+=($!)
PER_CORE_PID=$!
wait_http "http://127.0.0.1:$PER_CORE_PORT/" "$!" ceiling-per-core

# --- 3. the user -------------------------------------------------------------------------
HELPER=(timeout 60 python3 "$ROOT/bench/getuser.py")
"${HELPER[@]}" create-user "http://127.0.0.1:$GH_PORT" "$ROOT_KEY_ID" "$ROOT_SECRET" "$USER_NAME"
"${HELPER[@]}" create-user "http://127.0.0.1:$MOTO_PORT" "$MOTO_KEY_ID" "$MOTO_SECRET" "$USER_NAME"
"${HELPER[@]}" create-caller "http://127.0.0.1:$GH_PORT" "$ROOT_KEY_ID" "$ROOT_SECRET" caller 10 "$USER_NAME" "$WORK/caller.key"
read -r CALLER_KEY_ID CALLER_SECRET <"$WORK/caller.key"
"${HELPER[@]}" create-managed-caller "http://127.0.0.1:$GH_PORT" "$ROOT_KEY_ID" "$ROOT_SECRET" managed "$USER_NAME" "$WORK/managed.key"
read -r MANAGED_KEY_ID MANAGED_SECRET <"$WORK/managed.key"

# --- 4. sign, check, replay ------------------------------------------------------------------
# name, port, key id, secret, server pid
TARGETS=(
  "gatehouse $GH_PORT $ROOT_KEY_ID $ROOT_SECRET $GH_PID"
  "gatehouse-user $GH_PORT $CALLER_KEY_ID $CALLER_SECRET $GH_PID"
  "gatehouse-managed $GH_PORT $MANAGED_KEY_ID $MANAGED_SECRET $GH_PID"
  "moto $MOTO_PORT $MOTO_KEY_ID $MOTO_SECRET $MOTO_PID"
  "ceiling $CEILING_PORT $ROOT_KEY_ID $ROOT_SECRET $CEILING_PID"
  "ceiling-per-core $PER_CORE_PORT $ROOT_KEY_ID $ROOT_SECRET $PER_CORE_PID"
)

# CPU time (user + system, all threads) a process has used, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# CPU time the whole machine has spent busy (all cores: user, nice, system, irq, softirq; with
# tick accounting the last two are charged to whichever process was running), in ticks.
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; }
# Seconds of CPU (user + system) used by the children of a subshell, from bash's `times`.
children_cpu() { awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }' "$1"; }
TICK=$(getconf CLK_TCK)

# With BENCH_WAIT_IDLE=N, waits (at most N seconds) until the machine has been at least 90 %
# idle over 5 s, so that a run on a shared machine starts in a quiet moment.
wait_idle() {
  local limit=${BENCH_WAIT_IDLE:-0} waited=0 b0 t0 b1 t1
  ((limit > 0)) || return 0
  while true; do
    read -r b0 t0 < <(awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6; exit }' /proc/stat)
    sleep 5
    read -r b1 t1 < <(awk '$1 == "cpu" { b = $2 + $3 + $4 + $7 + $8; print b, b + $5 + $6; exit }' /proc/stat)
    waited=$((waited + 5))
    if (( (b1 - b0) * 10 <= (t1 - t0) )); then
      say "machine idle (waited ${waited} s)"
      return 0
    fi
    if ((waited >= limit)); then
      say "machine still busy after ${waited} s; running anyway"
      return 0
    fi
  done
}

# Prints a wrk latency (e.g. 812.00us, 1.53ms, 2.01s) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000; else if (v ~ /m$/) n = n * 60000
    printf "%.3f", n
  }'
}

declare -A RPS P50 P99 CPU_US OTHERS
for target in "${TARGETS[@]}"; do
  read -r name port key_id secret pid <<<"$target"
  url="http://127.0.0.1:$port/"
  for attempt in $(seq 1 "$ATTEMPTS"); do
    wait_idle
    # Signed right before its run: the signature is good for 15 minutes.
    "${HELPER[@]}" sign "$url" "$key_id" "$secret" "$USER_NAME" "$OUT/$name" >&2
    status=$(curl -s --max-time 10 -K "$OUT/$name.curl" -o "$OUT/$name.check.xml" -w '%{http_code}')
    if [[ $status != 200 ]] || ! grep -q '<GetUserResponse' "$OUT/$name.check.xml" \
      || ! grep -q "<UserName>$USER_NAME</UserName>" "$OUT/$name.check.xml"; then
      cat "$OUT/$name.check.xml" >&2 || true
      die "$name: the signed GetUser answered HTTP $status, not a GetUserResponse for $USER_NAME"
    fi
    say "$name: the signed request answers 200 GetUserResponse; load $(cut -d' ' -f1-3 /proc/loadavg)"
    say "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency -s $OUT/$name.lua $url"
    cpu_before=$(cpu_ticks "$pid")
    busy_before=$(busy_ticks)
    (
      timeout 120 wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "$OUT/$name.lua" "$url" >"$OUT/$name.wrk.txt"
      times >"$OUT/$name.wrk.times"
    )
    cpu_after=$(cpu_ticks "$pid")
    busy_after=$(busy_ticks)
    cat "$OUT/$name.wrk.txt" >&2
    if grep -Eq 'Socket errors|Non-2xx or 3xx' "$OUT/$name.wrk.txt"; then
      die "$name: wrk saw errors (see $OUT/$name.wrk.txt): a benchmark of errors is worthless"
    fi
    if [[ $name == gatehouse* ]]; then
      # Gatehouse's own count: every replayed request must have been answered `ok`.
      curl -s --max-time 10 "http://127.0.0.1:$port/metrics" | grep 'gatehouse_requests_total' >"$OUT/$name.metrics.txt" || true
      say "$name: /metrics says $(tr '\n' ' ' <"$OUT/$name.metrics.txt")"
      if grep -v 'outcome="ok"' "$OUT/$name.metrics.txt" | grep -q 'operation='; then
        die "$name: some requests were refused (see $OUT/$name.metrics.txt)"
      fi
    fi
    RPS[$name]=$(awk '/^Requests\/sec:/ { print $2 }' "$OUT/$name.wrk.txt")
    P50[$name]=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$OUT/$name.wrk.txt")")
    P99[$name]=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$OUT/$name.wrk.txt")")
    [[ -n ${RPS[$name]} ]] || die "$name: no Requests/sec in the wrk output"
    # The server's own CPU time per answered request (user + system, in microseconds).
    requests=$(awk '/requests in/ { print $1 }' "$OUT/$name.wrk.txt")
    CPU_US[$name]=$(awk -v t=$((cpu_after - cpu_before)) -v hz="$TICK" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    # What the rest of the machine (other users' builds and tests) took meanwhile, in cores: the
    # machine's busy time less the server's and wrk's. Near 0 means the run had the machine alone.
    OTHERS[$name]=$(awk -v busy=$((busy_after - busy_before)) -v srv=$((cpu_after - cpu_before)) -v hz="$TICK" \
      -v wrk="$(children_cpu "$OUT/$name.wrk.times")" -v d="${DURATION%s}" \
      'BEGIN { o = (busy - srv) / hz - wrk; if (o < 0) o = 0; printf "%.2f", o / d }')
    say "$name: server CPU ${CPU_US[$name]} us/request; other processes used ${OTHERS[$name]} cores meanwhile"
    cp "$OUT/$name.wrk.txt" "$OUT/$name.attempt$attempt.wrk.txt"
    # A run that shared the machine with someone else's work is done again (BENCH_ATTEMPTS).
    if awk -v o="${OTHERS[$name]}" 'BEGIN { exit !(o <= 0.25) }'; then break; fi
    if ((attempt < ATTEMPTS)); then say "$name: the machine was shared during this run; running it again"; fi
  done
done

# --- 5. the table ------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "met" : "NOT met") }'; }
MOTO_RATIO=$(ratio "${RPS[gatehouse]}" "${RPS[moto]}")
CEILING_RATIO=$(ratio "${RPS[gatehouse]}" "${RPS[ceiling]}")
PER_CORE_RATIO=$(ratio "${RPS[gatehouse]}" "${RPS[ceiling-per-core]}")
USER_RATIO=$(ratio "${RPS[gatehouse-user]}" "${RPS[gatehouse]}")
MANAGED_RATIO=$(ratio "${RPS[gatehouse-managed]}" "${RPS[gatehouse]}")
if COMMIT=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD -- crates Cargo.lock || COMMIT="$COMMIT + uncommitted changes under crates/"
else
  COMMIT=${BENCH_COMMIT:-unknown}
fi
{
  echo
  echo "GetUser, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "gatehouse at commit $COMMIT"
  echo
  echo "| server | req/s | p50 (ms) | p99 (ms) | server CPU per request (µs) | other processes (cores) |"
  echo "|---|---:|---:|---:|---:|---:|"
  for target in "${TARGETS[@]}"; do
    read -r name _ <<<"$target"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "${RPS[$name]}" "${P50[$name]}" "${P99[$name]}" "${CPU_US[$name]}" "${OTHERS[$name]}"
  done
  echo
  echo "gatehouse / moto    = ${MOTO_RATIO}x   (target >= 100: $(verdict "$MOTO_RATIO" 100))"
  echo "gatehouse / ceiling = ${CEILING_RATIO}   (target >= 0.6: $(verdict "$CEILING_RATIO" 0.6))"
  echo "gatehouse / ceiling on Gatehouse's threading = ${PER_CORE_RATIO}   (no target: how much of the above is the threading)"
  echo "user with 10 policies / root = ${USER_RATIO}   (target >= 0.9: $(verdict "$USER_RATIO" 0.9))"
  echo "user with 10 managed policies and 2 groups / root = ${MANAGED_RATIO}   (at most 10% more cost, target >= 0.91: $(verdict "$MANAGED_RATIO" 0.91))"
  echo
  echo "raw wrk outputs, signed requests and server logs: $OUT"
} | tee "$OUT/summary.txt"
