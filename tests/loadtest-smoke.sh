#!/usr/bin/env bash
# Smoke load for CI: start the server (debug build, inference on) on a free port with a
# fresh data dir, run `vkyc-loadtest run` — 10 two-party calls held 20 s, real VP8 + Opus,
# each running the consent/location/face step flow with captures, then 5 s of the UDP relay
# baseline — and require that the run met its SLOs (exit 0) and that the JSON report
# matches loadtest/report.schema.json. Then `vkyc-loadtest queue`: 30 customers queue for 5
# simulated agents who each take a real call; every customer must be connected (the p99
# bound is loose here: the figure that counts is BENCHMARKS.md's). Reports land in $LOADTEST_OUT (target/loadtest-smoke).
set -uo pipefail
cd "$(dirname "$0")/.."
server=${LOADTEST_SERVER_BIN:-target/debug/vkyc}
loadtest=${LOADTEST_BIN:-target/debug/vkyc-loadtest}
out=${LOADTEST_OUT:-target/loadtest-smoke}
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

key="smoke-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
admin_password="smoke-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$work/console.toml" <<TOML
[console]
seed_users = [{ email = "admin@smoke.invalid", name = "Smoke Admin", roles = ["admin"], password = "$admin_password" }]
[desk]
wrap_up_secs = 1
TOML
VKYC_PROFILE=test VKYC_SERVER__PORT=0 VKYC_STORAGE__DATA_DIR="$work/data" VKYC_AUTH__API_KEY="$key" \
  VKYC_CONFIG="$work/console.toml" VKYC_INFERENCE__ENABLED=true "$server" >"$work/server.log" 2>&1 &
pid=$!
url=
for _ in $(seq 300); do
  url=$(sed -nE 's/^vkyc listening on (.*)/\1/p' "$work/server.log")
  [ -n "$url" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if [ -z "$url" ]; then
  echo "loadtest smoke: the server did not start:"
  cat "$work/server.log"
  exit 1
fi

rm -rf "$out"
VKYC_API_KEY="$key" "$loadtest" run --url "$url" --calls 10 --duration 20 --ramp 1 \
  --steps consent,location,face --baseline-secs 5 --out "$out"
rc=$?
"$loadtest" validate-report "$out/report.json" || rc=1
VKYC_API_KEY="$key" VKYC_ADMIN_PASSWORD="$admin_password" "$loadtest" queue --url "$url" \
  --admin-email admin@smoke.invalid --customers 30 --agents 5 --arrival-rate 5 --hold-ms 300 \
  --slo-offer-p99-ms 2000 --out "$out/queue.json" || rc=1
if [ "$rc" -ne 0 ]; then
  echo "loadtest smoke: FAILED (exit $rc); server log tail:"
  tail -n 30 "$work/server.log"
fi
exit "$rc"
