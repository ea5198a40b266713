#!/usr/bin/env bash
# Lints the CloudFormation template with cfn-lint (installed from PyPI when missing). Fails on any
# error, warning or informational finding: none is ignored today. To ignore one, add its rule id
# to IGNORED below with the reason, and list it in infra/README.md ("cfn-lint exceptions").
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

# Rule ids to ignore, each with its reason. Empty: the template is clean at every level.
IGNORED=()

if ! command -v cfn-lint >/dev/null 2>&1; then
  log "installing cfn-lint from PyPI"
  python3 -m pip install --quiet --disable-pip-version-check 'cfn-lint>=1.20,<2'
fi

args=(--include-checks I --format parseable)
if [ ${#IGNORED[@]} -gt 0 ]; then
  args+=(--ignore-checks "${IGNORED[@]}")
fi
log "cfn-lint $(cfn-lint --version | awk '{print $2}') on infra/template.yaml"
# cfn-lint exits non-zero for any finding at an included level (errors 2, warnings 4, info 8).
cfn-lint "${args[@]}" -- infra/template.yaml
log "infra/template.yaml: no findings"
