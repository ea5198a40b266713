#!/usr/bin/env bash
# Fuzzes the HTTP API with schemathesis against its own OpenAPI document (/openapi.json):
# starts `bedrock-lb serve` in local mode (temporary data dir, free loopback port, in-process
# worker on the simulator), runs a bounded number of generated requests per operation, and
# fails on any 5xx answer, any answer whose status is undocumented, or any body that does not
# match the documented schema. Prints schemathesis' summary. The stateful phase follows the
# document's links (POST /invoke's job_id to GET/DELETE /jobs/{id}, POST /batch's batch_id to
# GET /batches/{id} and its results), so those operations see ids that exist.
#
# Environment: FUZZ_MAX_EXAMPLES (per operation, default 40), FUZZ_MAX_TIME (seconds, default 60),
# FUZZ_SEED (default 1, so runs are reproducible), FUZZ_PHASES (default
# examples,coverage,fuzzing,stateful). The whole run takes about 1.5 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

if ! command -v st >/dev/null 2>&1; then
  log "installing schemathesis from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4,<5'
fi

log "building bedrock-lb"
cargo build --quiet -p bedrock-lb --bin bedrock-lb
bin=target/debug/bedrock-lb

data_dir=$(mktemp -d -t bedrock-lb-fuzz.XXXXXX)
report_dir=$(mktemp -d -t bedrock-lb-fuzz-report.XXXXXX)
port=$(free_port)
base="http://127.0.0.1:$port"
server_log="$data_dir/serve.log"

BEDROCK_LB_DATA_DIR="$data_dir" RUST_LOG=warn \
  "$bin" serve --listen "127.0.0.1:$port" >"$server_log" 2>&1 &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$data_dir" "$report_dir"
}
trap cleanup EXIT INT TERM

wait_until_answers "bedrock-lb serve" "$server_pid" "$base/healthz" "$server_log"
log "bedrock-lb serve on $base; fuzzing"

# Long polls are capped by the request timeout, not left to wait 20 s per generated job.
status=0
st run "$base/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "${FUZZ_MAX_EXAMPLES:-40}" \
  --max-time "${FUZZ_MAX_TIME:-60}" \
  --seed "${FUZZ_SEED:-1}" \
  --phases "${FUZZ_PHASES:-examples,coverage,fuzzing,stateful}" \
  --request-timeout 25 \
  --generation-database none \
  --suppress-health-check all \
  --report junit --report-dir "$report_dir" \
  --no-color || status=$?

if ! kill -0 "$server_pid" 2>/dev/null; then
  log "bedrock-lb serve died during the fuzz run:"; cat "$server_log" >&2; exit 1
fi
if [ "$status" -ne 0 ]; then
  log "schemathesis found problems (exit $status); server log:"
  tail -n 50 "$server_log" >&2
  exit "$status"
fi
log "fuzz run passed: no 5xx, every answer documented and matching its schema"
