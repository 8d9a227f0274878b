#!/usr/bin/env bash
# How much GetUser's throughput moves with connection placement: many short wrk runs, each with
# fresh connections, against one or more Gatehouse binaries side by side (each on its own port
# and data directory), alternating between them and between three callers (root, a user with 10
# inline policies, and a user with 10 managed policies and two groups, as bench/getuser.sh
# makes them), so that every binary and caller sees the same machine. See
# docs/PERFORMANCE.md ("Connection placement on loopback").
#
#   bench/placement.sh [BINARY...]     (default: target/release/gatehouse)
#
# Settings (environment): PLACEMENT_RUNS (6 per binary and caller), PLACEMENT_DURATION (5s),
# PLACEMENT_PORT_BASE (18710: one port per binary from there). Needs wrk and boto3, as
# bench/getuser.sh does.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${PLACEMENT_RUNS:-6}
DURATION=${PLACEMENT_DURATION:-5s}
PORT_BASE=${PLACEMENT_PORT_BASE:-18710}
BINARIES=("$@")
((${#BINARIES[@]})) || BINARIES=(target/release/gatehouse)
# A fixed root key (any well-formed pair; nothing outside this run uses it).
KEY=AKIAGATEHOUSEBENCH01
SECRET=benchSecretKey0000000000000000000000000000
HELPER=(timeout 60 python3 bench/getuser.py)
WORK=$(mktemp -d /tmp/gatehouse-placement.XXXXXX)
PIDS=()
cleanup() {
  ((${#PIDS[@]})) && kill "${PIDS[@]}" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

for i in "${!BINARIES[@]}"; do
  port=$((PORT_BASE + i)) url="http://127.0.0.1:$((PORT_BASE + i))"
  GATEHOUSE_ROOT_ACCESS_KEY_ID=$KEY GATEHOUSE_ROOT_SECRET_ACCESS_KEY=$SECRET \
    "${BINARIES[$i]}" serve --listen "127.0.0.1:$port" --data-dir "$WORK/data-$i" >"$WORK/log-$i" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do curl -s -o /dev/null "$url/health" && break; sleep 0.1; done
  "${HELPER[@]}" create-user "$url" "$KEY" "$SECRET" bench
  "${HELPER[@]}" create-caller "$url" "$KEY" "$SECRET" caller 10 bench "$WORK/user-$i.key"
  "${HELPER[@]}" create-managed-caller "$url" "$KEY" "$SECRET" managed bench "$WORK/managed-$i.key"
  read -r user_key user_secret <"$WORK/user-$i.key"
  read -r managed_key managed_secret <"$WORK/managed-$i.key"
  # Signed now: good for 15 minutes, longer than the runs below take at the defaults.
  "${HELPER[@]}" sign "$url/" "$KEY" "$SECRET" bench "$WORK/root-$i" >/dev/null
  "${HELPER[@]}" sign "$url/" "$user_key" "$user_secret" bench "$WORK/user-$i" >/dev/null
  "${HELPER[@]}" sign "$url/" "$managed_key" "$managed_secret" bench "$WORK/managed-$i" >/dev/null
done

echo "wrk -t2 -c16 -d$DURATION, $RUNS runs per binary and caller, $(date -u '+%Y-%m-%d %H:%M UTC')"
for _ in $(seq 1 "$RUNS"); do
  for i in "${!BINARIES[@]}"; do
    for caller in root user managed; do
      out=$(wrk -t2 -c16 -d"$DURATION" --latency -s "$WORK/$caller-$i.lua" "http://127.0.0.1:$((PORT_BASE + i))/")
      if grep -Eq 'Socket errors|Non-2xx or 3xx' <<<"$out"; then
        echo "wrk saw errors against ${BINARIES[$i]} ($caller):" >&2; echo "$out" >&2; exit 1
      fi
      echo "${BINARIES[$i]} $caller $(awk '/Requests\/sec/ { print int($2) }' <<<"$out") $(awk '$1 == "99%" { print $2 }' <<<"$out")"
    done
  done
done | awk '{ key = $1 " " $2; runs[key] = runs[key] " " $3 " (p99 " $4 ")"; sum[key] += $3; n[key]++
              if (!(key in lo) || $3 < lo[key]) lo[key] = $3; if ($3 > hi[key]) hi[key] = $3 }
     END { for (k in runs) printf "%s: mean %d, %d to %d req/s:%s\n", k, sum[k] / n[k], lo[k], hi[k], runs[k] }' | sort
