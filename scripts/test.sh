#!/usr/bin/env bash
# The one test command (README and .ci/run call it): formatting, a dependency audit, lints, and
# the whole test suite, with moto's server started on a free loopback port for the SQS and
# DynamoDB tests and stopped again however the run ends.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if ! python3 -c 'import moto.server, flask, werkzeug' >/dev/null 2>&1; then
  log "installing moto's server from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi

port=$(free_port)
moto_log=$(mktemp -t moto.XXXXXX.log)
python3 -m moto.server -H 127.0.0.1 -p "$port" >"$moto_log" 2>&1 &
moto_pid=$!
# shellcheck disable=SC2329  # run by the trap below
cleanup() {
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  rm -f "$moto_log"
}
trap cleanup EXIT INT TERM

export MOTO_ENDPOINT="http://127.0.0.1:$port"
wait_until_answers "moto's server" "$moto_pid" "$MOTO_ENDPOINT/moto-api/" "$moto_log" 100
log "moto's server on $MOTO_ENDPOINT"

# What the AWS-mode tests give the binaries: the standard AWS environment, pointed at moto.
export AWS_ENDPOINT_URL="$MOTO_ENDPOINT" AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN || true

log "cargo fmt --check"
cargo fmt --all -- --check
# Cargo.lock against the offline RustSec database beside the checkout (shared/advisory-db), or
# the one ADVISORY_DB names.
advisory_db=${ADVISORY_DB:-../shared/advisory-db}
if [ -d "$advisory_db" ]; then
  if ! command -v cargo-audit >/dev/null 2>&1; then
    log "installing cargo-audit"
    cargo install --locked --quiet cargo-audit
  fi
  log "cargo audit against $advisory_db"
  cargo audit --db "$advisory_db" --no-fetch --deny warnings
else
  log "no advisory database at $advisory_db: dependency audit skipped (set ADVISORY_DB)"
fi

# The deployment template: cfn-lint, with every ignored rule explained in the script.
log "cfn-lint infra/"
bash scripts/lint-infra.sh

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
log "cargo test"
# The end-to-end tests run the binaries; the bedrock-lb package's own integration tests make this
# build them fresh.
test_log=$(mktemp -t bedrock-lb-tests.XXXXXX.log)
set +e
cargo test --workspace --locked 2>&1 | tee "$test_log"
test_status=${PIPESTATUS[0]}
set -e
# cargo prints one result line per test target (the last is often a doc-test target with none);
# end with the total over all of them.
read -r passed failed ignored < <(awk '/^test result:/ { p += $4; f += $6; i += $8 }
  END { print p + 0, f + 0, i + 0 }' "$test_log")
rm -f "$test_log"
if [ "$test_status" -eq 0 ]; then
  # Property-based fuzzing of the running API against its own OpenAPI document: no 5xx, no
  # answer outside the schema.
  log "schemathesis against /openapi.json"
  fuzz_status=0
  bash scripts/fuzz-api.sh || fuzz_status=$?
  if [ "$fuzz_status" -ne 0 ]; then failed=$((failed + 1)); test_status=$fuzz_status; fi
fi
echo "tests: $passed passed, $failed failed, $ignored skipped"
exit "$test_status"
