#!/usr/bin/env bash
# The resident memory of a separately started `steward serve` under constant
# load from wrk (a client nobody wrote for Steward), read from
# /proc/PID/status every 10 s, with nobody scraping /metrics: a per-request
# leak shows as a rising line.
#
#   benches/rss_under_wrk.sh [SECONDS] [PATH]      (defaults: 60, /healthz)
#   STEWARD_BIN=path/to/other/steward benches/rss_under_wrk.sh 60
#
# Prints "elapsed_s requests rss_kb" lines, then wrk's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
path=${2:-/healthz}
bin=${STEWARD_BIN:-target/release/steward}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ -x "$bin" ] || cargo build --release --locked --bin steward
work=$(mktemp -d)
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
STEWARD_DATABASE_URL="sqlite://$work/steward.db?mode=rwc" STEWARD_AUDIT_LOG=off RUST_LOG=warn \
  "$bin" serve --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 1 100); do
  grep -q "steward listening" "$work/out" 2>/dev/null && break
  sleep 0.1
done
http=$(sed 's/.*http=\([^ ]*\).*/\1/' <<<"$(grep "steward listening" "$work/out")")
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }
wrk -t2 -c16 -d"${seconds}s" --latency "http://$http$path" >"$work/wrk" &
load=$!
start=$(date +%s)
echo "elapsed_s rss_kb"
echo "0 $(rss)"
while kill -0 "$load" 2>/dev/null; do
  sleep 10
  kill -0 "$load" 2>/dev/null || break
  echo "$(( $(date +%s) - start )) $(rss)"
done
wait "$load"
echo "$(( $(date +%s) - start )) $(rss)"
cat "$work/wrk"
