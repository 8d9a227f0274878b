#!/usr/bin/env bash
# GetUser and CreateUser under wrk with one and three `gatehouse serve` nodes on PostgreSQL,
# beside the embedded SQLite store, in one run; then PostgreSQL's own statistics over 10,000
# authorized GetUser requests. See docs/PERFORMANCE.md.
#
#   bench/postgres.sh
#
# What it does, in order:
#   1. builds `gatehouse` in release (unless BENCH_SKIP_BUILD=1), installs wrk if missing;
#   2. starts a throw-away PostgreSQL cluster (scripts/pg-test-cluster, with pg_stat_statements
#      loaded) and, on 127.0.0.1 only: one node on SQLite, one node on database `bench_one`,
#      three nodes on database `bench_three`; all share one master key and root key;
#   3. in each store creates the user `bench` and the user `caller` with 10 inline policies
#      (bench/getuser.py), so every GetUser is signed by `caller` and authorized against them;
#   4. GetUser: one request signed per node (bench/presign.py), replayed with
#        wrk -t2 -c16 -d10s --latency
#      (three nodes: three wrk at once, -t1 -c6 each, one per node; req/s summed, p99 the
#      worst of the three); CreateUser: BENCH_CREATE_COUNT different signed requests in all
#      (split between the nodes), never one name twice, for BENCH_CREATE_DURATION only: an
#      account holds at most 5,000 users (AWS's quota, enforced), so a longer run would be a
#      run of LimitExceeded. A run with any socket error or non-2xx answer is refused;
#   5. on `bench_one`, after 200 warm-up requests and with the statistics reset, sends 10,000
#      GetUser on one connection and reads pg_stat_statements (calls per statement) and
#      pg_stat_database (commits) for that database;
#   6. prints the tables. Raw outputs stay in BENCH_OUT.
#
# Settings (environment): BENCH_DURATION (10, seconds), BENCH_CREATE_DURATION (1, seconds),
# BENCH_CONNECTIONS (16), BENCH_CREATE_COUNT (4990), BENCH_PG_PORT (55440), BENCH_PORT_BASE
# (18701: five ports from there), BENCH_OUT, BENCH_SKIP_BUILD=1.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
CREATE_DURATION=${BENCH_CREATE_DURATION:-1}
CREATE_COUNT=${BENCH_CREATE_COUNT:-4990}
PG_PORT=${BENCH_PG_PORT:-55440}
BASE=${BENCH_PORT_BASE:-18701}
ROOT_KEY_ID=AKIAGATEHOUSEBENCH02
ROOT_SECRET=benchSecretKey0000000000000000000000000002
OUT=${BENCH_OUT:-$(mktemp -d /tmp/gatehouse-pgbench.XXXXXX)}
mkdir -p "$OUT"
WORK=$(mktemp -d /tmp/gatehouse-pgbench-work.XXXXXX)
chmod 0755 "$WORK"
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  scripts/pg-test-cluster stop "$WORK/pg" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '== %s\n' "$*" >&2; }
die() { printf 'bench/postgres.sh: %s\n' "$*" >&2; exit 1; }

# --- 1. tools and binaries -------------------------------------------------------------------
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >"$OUT/apt.log" 2>&1
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
  say "cargo build --release -p gatehouse --bin gatehouse"
  cargo build --release -p gatehouse --bin gatehouse
fi
GATEHOUSE=$ROOT/target/release/gatehouse
[[ -x $GATEHOUSE ]] || die "no release binary; run without BENCH_SKIP_BUILD"

# --- 2. the cluster and the nodes --------------------------------------------------------------
say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
PG_URL=$(PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
  scripts/pg-test-cluster start "$WORK/pg" "$PG_PORT" 2>"$OUT/pg.log")
PG_BASE=${PG_URL%/*}
for db in bench_one bench_three; do psql "$PG_URL" -qc "CREATE DATABASE $db"; done
# In the database the statistics are read from, so that reading them adds nothing to bench_one.
psql "$PG_URL" -qc "CREATE EXTENSION pg_stat_statements"
MASTER_KEY=$(openssl rand -hex 32)

# name, port, store arguments
NODES=(
  "sqlite $BASE"
  "pg1 $((BASE + 1)) --store $PG_BASE/bench_one"
  "pg3a $((BASE + 2)) --store $PG_BASE/bench_three"
  "pg3b $((BASE + 3)) --store $PG_BASE/bench_three"
  "pg3c $((BASE + 4)) --store $PG_BASE/bench_three"
)
declare -A PORT
for node in "${NODES[@]}"; do
  read -r name port store_args <<<"$node"
  PORT[$name]=$port
  mkdir -p "$WORK/$name"
  # shellcheck disable=SC2086 # the store arguments are two words
  GATEHOUSE_MASTER_KEY=$MASTER_KEY GATEHOUSE_ROOT_ACCESS_KEY_ID=$ROOT_KEY_ID \
    GATEHOUSE_ROOT_SECRET_ACCESS_KEY=$ROOT_SECRET GATEHOUSE_LOG=warn \
    "$GATEHOUSE" serve --listen "127.0.0.1:$port" --data-dir "$WORK/$name/data" $store_args \
    >"$OUT/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/ready" && break
    kill -0 "$!" 2>/dev/null || die "$name exited (see $OUT/$name.log)"
    sleep 0.1
  done
  # The nodes of one database start one after another: the first migrates it.
done

# --- 3. users ---------------------------------------------------------------------------------
HELPER=(timeout 120 python3 "$ROOT/bench/getuser.py")
PRESIGN=(timeout 600 python3 "$ROOT/bench/presign.py")
declare -A CALLER_ID CALLER_SECRET
for store in sqlite pg1 pg3a; do
  url="http://127.0.0.1:${PORT[$store]}"
  "${HELPER[@]}" create-user "$url" "$ROOT_KEY_ID" "$ROOT_SECRET" bench >&2
  "${HELPER[@]}" create-caller "$url" "$ROOT_KEY_ID" "$ROOT_SECRET" caller 10 bench "$WORK/$store.key" >&2
  read -r CALLER_ID[$store] CALLER_SECRET[$store] <"$WORK/$store.key"
done
for node in pg3b pg3c; do
  CALLER_ID[$node]=${CALLER_ID[pg3a]} CALLER_SECRET[$node]=${CALLER_SECRET[pg3a]}
done

# --- 4. wrk -----------------------------------------------------------------------------------
to_ms() {
  awk -v v="$1" 'BEGIN { n = v + 0
    if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
    printf "%.2f", n }'
}

# run_wrk NAME NODE THREADS CONNECTIONS SCRIPT SECONDS: one wrk against one node.
run_wrk() {
  local name=$1 node=$2 threads=$3 connections=$4 script=$5 seconds=$6
  timeout 120 wrk -t"$threads" -c"$connections" -d"${seconds}s" --latency -s "$script" \
    "http://127.0.0.1:${PORT[$node]}/" -- "$threads" >"$OUT/$name.$node.wrk.txt"
}

# check NAME NODE: refuses a run with errors; prints "req/s p99_ms".
check() {
  local file="$OUT/$1.$2.wrk.txt"
  if grep -Eq 'Socket errors|Non-2xx or 3xx' "$file"; then
    cat "$file" >&2
    die "$1 on $2: wrk saw errors (see $file)"
  fi
  printf '%s %s\n' "$(awk '/^Requests\/sec:/ { print $2 }' "$file")" \
    "$(to_ms "$(awk '$1 == "99%" { print $2 }' "$file")")"
}

declare -A RPS P99
# measure OPERATION LABEL NODE...: one node with -t2 -cCONNECTIONS, or one wrk per node at once.
measure() {
  local op=$1 label=$2
  shift 2
  local nodes=("$@") node per=$(((CONNECTIONS + $# - 1) / $#)) pids=() total=0 worst=0 rps p99
  local seconds=$DURATION
  [[ $op == CreateUser ]] && seconds=$CREATE_DURATION
  for node in "${nodes[@]}"; do
    if [[ $op == GetUser ]]; then
      "${PRESIGN[@]}" getuser "http://127.0.0.1:${PORT[$node]}" "${CALLER_ID[$node]}" \
        "${CALLER_SECRET[$node]}" bench "$WORK/$op.$node.lua"
    else
      "${PRESIGN[@]}" createuser "http://127.0.0.1:${PORT[$node]}" "$ROOT_KEY_ID" "$ROOT_SECRET" \
        "u-$label-$node" "$((CREATE_COUNT / $#))" "$WORK/$op.$node.lua"
    fi
  done
  say "$op on $label: wrk -t$(( $# == 1 ? 2 : 1 )) -c$(( $# == 1 ? CONNECTIONS : per )) -d${seconds}s on ${nodes[*]}"
  for node in "${nodes[@]}"; do
    if (($# == 1)); then
      run_wrk "$op" "$node" 2 "$CONNECTIONS" "$WORK/$op.$node.lua" "$seconds" &
    else
      run_wrk "$op" "$node" 1 "$per" "$WORK/$op.$node.lua" "$seconds" &
    fi
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  for node in "${nodes[@]}"; do
    read -r rps p99 < <(check "$op" "$node")
    total=$(awk -v a="$total" -v b="$rps" 'BEGIN { printf "%.0f", a + b }')
    worst=$(awk -v a="$worst" -v b="$p99" 'BEGIN { print (b > a ? b : a) }')
  done
  RPS[$op.$label]=$total P99[$op.$label]=$worst
  say "$op on $label: $total req/s, p99 $worst ms"
}

for op in GetUser CreateUser; do
  measure "$op" sqlite sqlite
  measure "$op" pg1 pg1
  measure "$op" pg3 pg3a pg3b pg3c
done

# --- 5. PostgreSQL's own counts over 10,000 GetUser ---------------------------------------------
ONE="http://127.0.0.1:${PORT[pg1]}"
"${PRESIGN[@]}" replay "$ONE" "${CALLER_ID[pg1]}" "${CALLER_SECRET[pg1]}" bench 200 >&2
# Backends report their commits to pg_stat_database when idle for a while: let them.
sleep 12
commits() { psql "$PG_URL" -Atc "SELECT xact_commit FROM pg_stat_database WHERE datname = 'bench_one'"; }
COMMITS_BEFORE=$(commits)
psql "$PG_URL" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null
"${PRESIGN[@]}" replay "$ONE" "${CALLER_ID[pg1]}" "${CALLER_SECRET[pg1]}" bench 10000 | tee "$OUT/replay.txt" >&2
sleep 12
COMMITS_AFTER=$(commits)
psql "$PG_URL" -Atc "SELECT s.calls, s.rows, regexp_replace(s.query, '\s+', ' ', 'g')
  FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
  WHERE d.datname = 'bench_one' ORDER BY s.calls DESC" >"$OUT/statements.txt"

# --- 6. tables --------------------------------------------------------------------------------
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- crates Cargo.lock 2>/dev/null || COMMIT="$COMMIT + uncommitted changes under crates/"
PG_VERSION=$(psql "$PG_URL" -Atc "SHOW server_version")
{
  echo
  echo "GetUser (signed by a user with 10 inline policies; wrk ${DURATION}s) and CreateUser (root; wrk ${CREATE_DURATION}s, within the"
  echo "5,000-user quota), $CONNECTIONS connections in all,"
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, PostgreSQL $PG_VERSION on the same machine, gatehouse at $COMMIT"
  echo
  echo "| store | nodes | GetUser req/s | GetUser p99 (ms) | CreateUser req/s | CreateUser p99 (ms) |"
  echo "|---|---:|---:|---:|---:|---:|"
  for row in "sqlite SQLite 1" "pg1 PostgreSQL 1" "pg3 PostgreSQL 3"; do
    read -r label store nodes <<<"$row"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$store" "$nodes" "${RPS[GetUser.$label]}" \
      "${P99[GetUser.$label]}" "${RPS[CreateUser.$label]}" "${P99[CreateUser.$label]}"
  done
  echo
  echo "10,000 GetUser on one keep-alive connection to one node on PostgreSQL ($(cat "$OUT/replay.txt")):"
  echo "commits in database bench_one (pg_stat_database.xact_commit): $((COMMITS_AFTER - COMMITS_BEFORE))"
  echo "statements (pg_stat_statements: calls, rows, query):"
  sed 's/^/    /' "$OUT/statements.txt"
  echo
  echo "raw outputs: $OUT"
} | tee "$OUT/summary.txt"
