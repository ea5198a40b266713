#!/usr/bin/env bash
# The benchmark: builds the release binaries (bedrock-lb and bedrock-lb-worker, which the
# multi-process run starts) and runs `bedrock-lb bench --markdown`. Extra arguments go to the
# bench, e.g. `scripts/bench.sh --windows 4 --only quota-aware,fault`.
# The table goes to stdout; progress goes to stderr (RUST_LOG=warn by default).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib.sh
. scripts/lib.sh

log "cargo build --release -p bedrock-lb"
cargo build --release --locked -p bedrock-lb --bins
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
log "machine: $(nproc) cores, $(uname -sm), release profile"
RUST_LOG=${RUST_LOG:-warn} exec "$target_dir/release/bedrock-lb" bench --markdown "$@"
