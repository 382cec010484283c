#!/usr/bin/env bash
# One `steward bench` run against a separately started `steward serve`, so
# that the server's own resident memory is what the tool reports, and so
# that the server can run on PostgreSQL.
#
#   benches/external.sh LABEL [steward bench flags...]
#
# Starts the release binary on ephemeral loopback ports over a fresh
# database (a SQLite file in a temporary directory, or, when
# STEWARD_BENCH_POSTGRES=postgres://user@host:port is set, a new database
# there that is dropped afterwards), runs the bench with the given flags,
# writes target/bench/LABEL.json and stops the server.
#
# Examples (BENCHMARKS.md):
#   benches/external.sh small --ops grpc-decide,grpc-introspect-rpt,http-rpt-status,http-introspect
#   benches/external.sh scale --scale --ops grpc-decide,grpc-introspect-rpt,http-rpt-status,http-introspect
#   STEWARD_BENCH_POSTGRES=postgres://postgres@127.0.0.1:5432 benches/external.sh pg --ops http-perm,http-token
set -euo pipefail
cd "$(dirname "$0")/.."

label=${1:?usage: benches/external.sh LABEL [steward bench flags...]}
shift
bin=${STEWARD_BIN:-target/release/steward}
[ -x "$bin" ] || cargo build --release --locked
mkdir -p target/bench
work=$(mktemp -d)
database=""

cleanup() {
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "$database" ]; then
    psql "$STEWARD_BENCH_POSTGRES/postgres" -qAt -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${STEWARD_BENCH_POSTGRES:-}" ]; then
  database="steward_bench_$$"
  psql "$STEWARD_BENCH_POSTGRES/postgres" -qAt -c "CREATE DATABASE \"$database\""
  url="$STEWARD_BENCH_POSTGRES/$database"
else
  url="sqlite://$work/steward.db?mode=rwc"
fi

STEWARD_DATABASE_URL="$url" RUST_LOG=warn "$bin" serve \
  --http-addr 127.0.0.1:0 --grpc-addr 127.0.0.1:0 >"$work/out" 2>"$work/err" &
server=$!
for _ in $(seq 1 100); do
  grep -q "steward listening" "$work/out" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || { cat "$work/err" >&2; exit 1; }
  sleep 0.1
done
line=$(grep "steward listening" "$work/out") || { echo "the server did not start" >&2; cat "$work/err" >&2; exit 1; }
http=$(sed 's/.*http=\([^ ]*\).*/\1/' <<<"$line")
grpc=$(sed 's/.*grpc=\([^ ]*\).*/\1/' <<<"$line")
echo "== $label: steward serve pid $server, http=$http grpc=$grpc, database ${database:-SQLite}" >&2

STEWARD_DATABASE_URL="$url" "$bin" bench --http "http://$http" --grpc "http://$grpc" \
  --json "target/bench/$label.json" "$@"
