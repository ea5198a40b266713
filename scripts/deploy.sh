#!/usr/bin/env bash
# Deploys bedrock-lb to the AWS account and region of the current credentials in one command:
# builds the Lambda zip, uploads it to an artifact bucket (created if missing), builds and pushes
# the worker image when docker works, deploys infra/template.yaml, seeds the quota table when a
# quotas file is given, and prints the API URL with a signed curl example.
#
#   scripts/deploy.sh [--stack-name bedrock-lb] [--region REGION] [--arch arm64|x86_64]
#                     [--config models.toml] [--quotas quotas.toml]
#                     [--auth iam|api_key] [--api-keys-file keys.txt]
#                     [--min-workers N] [--max-workers N] [--log-level info] [--job-ttl-days 7]
#                     [--vpc-id vpc-...] [--subnet-ids subnet-a,subnet-b] [--private-subnets]
#                     [--image-tag TAG] [--alarm-topic-arn ARN]
#
# --config     the model configuration (regions and models served); default: the built-in one.
# --api-keys-file  api_key mode: lines `name=key`; only SHA-256 hashes leave this machine.
# --vpc-id/--subnet-ids  default: the region's default VPC and its subnets (public IPs on).
# --image-tag  default: the git commit; with no docker, an image with this tag must already be
#              in the ECR repository (built elsewhere from the Dockerfile).
# Needs: aws CLI, python3, zip, cargo (and docker for the worker image). AWS_ENDPOINT_URL is
# passed through by the aws CLI, e.g. to try the stack against moto.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

stack=bedrock-lb
region=${AWS_REGION:-${AWS_DEFAULT_REGION:-}}
arch=arm64
config=crates/config/default.toml
quotas=""
auth=iam
api_keys_file=""
min_workers=1
max_workers=10
log_level=info
ttl_days=7
vpc_id=""
subnet_ids=""
public_ip=ENABLED
image_tag=""
alarm_topic=""
while [ $# -gt 0 ]; do
  case "$1" in
    --stack-name) stack=$2; shift 2 ;;
    --region) region=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    --quotas) quotas=$2; shift 2 ;;
    --auth) auth=$2; shift 2 ;;
    --api-keys-file) api_keys_file=$2; shift 2 ;;
    --min-workers) min_workers=$2; shift 2 ;;
    --max-workers) max_workers=$2; shift 2 ;;
    --log-level) log_level=$2; shift 2 ;;
    --job-ttl-days) ttl_days=$2; shift 2 ;;
    --vpc-id) vpc_id=$2; shift 2 ;;
    --subnet-ids) subnet_ids=$2; shift 2 ;;
    --private-subnets) public_ip=DISABLED; shift ;;
    --image-tag) image_tag=$2; shift 2 ;;
    --alarm-topic-arn) alarm_topic=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
[ -n "$region" ] || region=$(aws configure get region || true)
[ -n "$region" ] || die "no region: pass --region or set AWS_REGION"
export AWS_REGION=$region AWS_DEFAULT_REGION=$region
[ -f "$config" ] || die "no model configuration at $config"
case "$auth" in iam|api_key) ;; *) die "--auth must be iam or api_key" ;; esac
if [ "$auth" = api_key ] && [ -z "$api_keys_file" ]; then
  die "api_key mode needs --api-keys-file (lines name=key)"
fi

caller_arn=$(aws sts get-caller-identity --query Arn --output text)
account=$(aws sts get-caller-identity --query Account --output text)
partition=$(cut -d: -f2 <<<"$caller_arn")
log "account $account, region $region, partition $partition, stack $stack"

# --- Lambda code, content-addressed so a new build always updates the function.
zip_path=$(scripts/package-lambda.sh --arch "$arch")
digest=$(sha256sum "$zip_path" | cut -c1-16)
bucket="bedrock-lb-artifacts-$account-$region"
if ! aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
  log "creating artifact bucket $bucket"
  if [ "$region" = us-east-1 ]; then
    aws s3api create-bucket --bucket "$bucket" >/dev/null
  else
    aws s3api create-bucket --bucket "$bucket" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  aws s3api put-public-access-block --bucket "$bucket" --public-access-block-configuration \
    BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
fi
key="lambda/bedrock-lb-lambda-$arch-$digest.zip"
aws s3 cp --only-show-errors "$zip_path" "s3://$bucket/$key"
log "uploaded s3://$bucket/$key"

# --- Worker image.
repo=bedrock-lb-worker
[ -n "$image_tag" ] || image_tag=$(git rev-parse --short=12 HEAD 2>/dev/null || date +%Y%m%d%H%M%S)
if ! aws ecr describe-repositories --repository-names "$repo" >/dev/null 2>&1; then
  log "creating ECR repository $repo"
  aws ecr create-repository --repository-name "$repo" \
    --image-scanning-configuration scanOnPush=true >/dev/null
fi
registry="$account.dkr.ecr.$region.amazonaws.com"
if docker info >/dev/null 2>&1; then
  log "building and pushing $registry/$repo:$image_tag (linux/$arch)"
  aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >/dev/null
  docker buildx build --platform "linux/$arch" -t "$registry/$repo:$image_tag" --push .
elif aws ecr describe-images --repository-name "$repo" --image-ids "imageTag=$image_tag" >/dev/null 2>&1; then
  log "no docker engine; using the image $repo:$image_tag already in ECR"
else
  die "no docker engine here and no image $repo:$image_tag in ECR: build and push the Dockerfile elsewhere (infra/README.md), then pass --image-tag"
fi

# --- Network: the default VPC unless given.
if [ -z "$vpc_id" ]; then
  vpc_id=$(aws ec2 describe-vpcs --filters Name=is-default,Values=true --query 'Vpcs[0].VpcId' --output text)
  [ "$vpc_id" != None ] || die "no default VPC: pass --vpc-id and --subnet-ids"
fi
if [ -z "$subnet_ids" ]; then
  subnet_ids=$(aws ec2 describe-subnets --filters "Name=vpc-id,Values=$vpc_id" \
    --query 'Subnets[].SubnetId' --output text | tr '\t' ',')
fi

# --- Models: the configuration text and the exact ARNs the workers may invoke.
model_toml=$(cat "$config")
[ ${#model_toml} -le 4096 ] || die "$config is over 4096 bytes, CloudFormation's parameter limit"
arns=$(python3 infra/bedrock_arns.py "$config" --account "$account" --partition "$partition")

api_key_hashes=""
if [ "$auth" = api_key ]; then
  entries=()
  while IFS='=' read -r name secret; do
    [ -n "$name" ] && [ "${name:0:1}" != "#" ] || continue
    hash=$(printf '%s' "$secret" | sha256sum | cut -d' ' -f1)
    entries+=("$name=\"$hash\"")
  done <"$api_keys_file"
  [ ${#entries[@]} -gt 0 ] || die "$api_keys_file has no name=key lines"
  api_key_hashes="{$(IFS=,; echo "${entries[*]}")}"
fi

log "deploying stack $stack"
aws cloudformation deploy \
  --stack-name "$stack" \
  --template-file infra/template.yaml \
  --s3-bucket "$bucket" --s3-prefix templates \
  --capabilities CAPABILITY_IAM \
  --no-fail-on-empty-changeset \
  --parameter-overrides \
    "LambdaCodeBucket=$bucket" "LambdaCodeKey=$key" "Architecture=$arch" \
    "WorkerRepositoryName=$repo" "WorkerImageTag=$image_tag" \
    "ModelConfigToml=$model_toml" "BedrockInvokeArns=$arns" \
    "AuthMode=$auth" "ApiKeyHashes=$api_key_hashes" \
    "MinWorkers=$min_workers" "MaxWorkers=$max_workers" \
    "WorkerVpcId=$vpc_id" "WorkerSubnetIds=$subnet_ids" "WorkerAssignPublicIp=$public_ip" \
    "LogLevel=$log_level" "JobTtlDays=$ttl_days" "AlarmTopicArn=$alarm_topic"

output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
api_url=$(output ApiUrl)
quotas_table=$(output QuotasTableName)

# --- Quotas.
if [ -n "$quotas" ]; then
  cli=""
  for candidate in target/release/bedrock-lb target/debug/bedrock-lb "$(command -v bedrock-lb || true)"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then cli=$candidate; break; fi
  done
  if [ -n "$cli" ]; then
    log "loading $quotas into $quotas_table"
    BEDROCK_LB_BACKEND=aws BEDROCK_LB_QUOTAS_TABLE=$quotas_table "$cli" quotas import "$quotas"
  else
    log "no bedrock-lb binary found (cargo build --release): $quotas not loaded"
  fi
fi

cat <<EOF

bedrock-lb is deployed.
  API:   $api_url
  queue: $(output QueueUrl)
  jobs:  $(output JobsTableName)

EOF
if [ "$auth" = iam ]; then
  cat <<EOF
Submit a prompt with a SigV4-signed request (add -H "x-amz-security-token: \$AWS_SESSION_TOKEN"
with temporary credentials):
  curl --aws-sigv4 "aws:amz:$region:execute-api" \\
    --user "\$AWS_ACCESS_KEY_ID:\$AWS_SECRET_ACCESS_KEY" \\
    -H 'content-type: application/json' -d '{"prompt": "Hello"}' \\
    "$api_url/invoke"
EOF
else
  cat <<EOF
Submit a prompt with one of your keys:
  curl -H "x-api-key: \$BEDROCK_LB_API_KEY" -H 'content-type: application/json' \\
    -d '{"prompt": "Hello"}' "$api_url/invoke"
EOF
fi
