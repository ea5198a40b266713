#!/usr/bin/env bash
# Removes a bedrock-lb stack and everything it created (tables included: their DeletionPolicy is
# Delete). With --all, also the artifact bucket and the worker's ECR repository that
# scripts/deploy.sh creates outside the stack.
#
#   scripts/destroy.sh [--stack-name bedrock-lb] [--region REGION] [--all] [--yes]
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

stack=bedrock-lb
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
all=false
yes=false
while [ $# -gt 0 ]; do
  case "$1" in
    --stack-name) stack=$2; shift 2 ;;
    --region) region=$2; shift 2 ;;
    --all) all=true; shift ;;
    --yes) yes=true; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$region" ] || region=$(aws configure get region || true)
[ -n "$region" ] || die "no region: pass --region or set AWS_REGION"
export AWS_REGION=$region AWS_DEFAULT_REGION=$region
account=$(aws sts get-caller-identity --query Account --output text)

if [ "$yes" != true ]; then
  printf 'Delete stack %s in %s (account %s), its queues and its tables with all jobs? [y/N] ' \
    "$stack" "$region" "$account" >&2
  read -r answer
  [ "$answer" = y ] || [ "$answer" = Y ] || die "nothing deleted"
fi

log "deleting stack $stack"
aws cloudformation delete-stack --stack-name "$stack"
aws cloudformation wait stack-delete-complete --stack-name "$stack"
log "stack $stack deleted"

if [ "$all" = true ]; then
  bucket="bedrock-lb-artifacts-$account-$region"
  if aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    log "deleting artifact bucket $bucket"
    aws s3 rb --force "s3://$bucket" >/dev/null
  fi
  if aws ecr describe-repositories --repository-names bedrock-lb-worker >/dev/null 2>&1; then
    log "deleting ECR repository bedrock-lb-worker"
    aws ecr delete-repository --repository-name bedrock-lb-worker --force >/dev/null
  fi
fi
