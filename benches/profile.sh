#!/usr/bin/env bash
# A CPU flamegraph of a separately started `steward serve` while the load
# tool drives one operation at it.
#
#   benches/profile.sh LABEL OP CONCURRENCY
#   e.g. benches/profile.sh http-perm-c64 http-perm 64
#
# Needs perf (Debian's linux-perf) and inferno (`cargo install inferno`).
# Builds the `profiling` profile (release + line tables + frame pointers),
# runs the op for 8 s after its baseline's 8 s, samples the server's threads
# at 1999 Hz for 4 s in the middle of the op's window (cpu-clock: hardware
# counters are not available on every machine), and writes
# benches/profiles/LABEL.svg and target/bench/LABEL.folded.
set -euo pipefail
cd "$(dirname "$0")/.."
label=${1:?usage: benches/profile.sh LABEL OP CONCURRENCY}
op=${2:?usage: benches/profile.sh LABEL OP CONCURRENCY}
concurrency=${3:?usage: benches/profile.sh LABEL OP CONCURRENCY}

RUSTFLAGS="-C force-frame-pointers=yes" cargo build --profile profiling --locked
bin=target/profiling/steward
mkdir -p target/bench benches/profiles
work=$(mktemp -d)
url="sqlite://$work/steward.db?mode=rwc"
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

STEWARD_DATABASE_URL="$url" RUST_LOG=warn "$bin" serve \
  --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 1 100); do
  grep -q "steward listening" "$work/out" 2>/dev/null && break
  sleep 0.1
done
line=$(grep "steward listening" "$work/out")
http=$(sed 's/.*http=\([^ ]*\).*/\1/' <<<"$line")
grpc=$(sed 's/.*grpc=\([^ ]*\).*/\1/' <<<"$line")

STEWARD_DATABASE_URL="$url" "$bin" bench --http "http://$http" --grpc "http://$grpc" \
  --ops "$op" --concurrency "$concurrency" --duration 8 | tee "target/bench/$label.txt" &
bench=$!
# Seeding takes about a second, then the baseline runs 8 s in the tool's
# own process; sample the middle of the operation's window.
sleep 11
perf record -e cpu-clock -F 1999 -g -p "$server" -o "$work/perf.data" -- sleep 4 >/dev/null 2>&1
wait "$bench"
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf >"target/bench/$label.folded"
inferno-flamegraph --title "steward serve: $op at concurrency $concurrency" \
  <"target/bench/$label.folded" >"benches/profiles/$label.svg"
echo "wrote benches/profiles/$label.svg"
