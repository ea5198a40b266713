#!/usr/bin/env python3
"""Prints the Bedrock ARNs the workers may invoke, comma-separated, for the template's
BedrockInvokeArns parameter, from a bedrock-lb model configuration (TOML).

CloudFormation cannot read TOML or build the cross product of regions and models, so this small
step turns each configured bucket (region, model id or inference profile id) into the ARNs IAM
checks for a Converse call made there:

* a model id: arn:P:bedrock:REGION::foundation-model/ID
* a cross-region inference profile id (us., eu., apac., ...): the profile's ARN in the calling
  region (arn:P:bedrock:REGION:ACCOUNT:inference-profile/ID) plus the underlying foundation model
  in the profile's destination regions, which IAM also checks. Destination regions are named by
  the profile's geography (us-*, eu-*, ap-*...) because AWS adds regions to a profile over time;
  the model is always named exactly. A global. profile also needs the region-less model ARN.
* a full ARN: used as it is.

Usage: bedrock_arns.py CONFIG.toml --account 123456789012 [--partition aws]
"""

import argparse
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

# Geography prefix of a system-defined inference profile id -> its destination regions as an
# IAM region pattern.
GEOGRAPHIES = {
    "us": "us-*",
    "us-gov": "us-gov-*",
    "eu": "eu-*",
    "apac": "ap-*",
    "jp": "ap-northeast-*",
    "au": "ap-southeast-*",
    "ca": "ca-*",
    "global": "*",
}


def bucket_arns(region: str, model_id: str, partition: str, account: str) -> list[str]:
    """The ARNs one bucket needs."""
    if model_id.startswith("arn:"):
        return [model_id]
    geo, _, base = model_id.partition(".")
    if geo in GEOGRAPHIES and base:
        arns = [
            f"arn:{partition}:bedrock:{region}:{account}:inference-profile/{model_id}",
            f"arn:{partition}:bedrock:{GEOGRAPHIES[geo]}::foundation-model/{base}",
        ]
        if geo == "global":
            arns.append(f"arn:{partition}:bedrock:::foundation-model/{base}")
        return arns
    return [f"arn:{partition}:bedrock:{region}::foundation-model/{model_id}"]


def config_arns(config: dict, partition: str, account: str) -> list[str]:
    """Every ARN of every bucket of every model, sorted and without duplicates."""
    arns: set[str] = set()
    for name, model in config.get("models", {}).items():
        for region, bucket in model.get("regions", {}).items():
            model_id = bucket if isinstance(bucket, str) else bucket.get("model_id")
            if not model_id:
                raise SystemExit(f"models.{name}.regions.{region}: no model id")
            arns.update(bucket_arns(region, model_id, partition, account))
    if not arns:
        raise SystemExit("the configuration names no models")
    return sorted(arns)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="bedrock-lb model configuration (TOML)")
    parser.add_argument("--account", required=True, help="AWS account id of the stack")
    parser.add_argument("--partition", default="aws", help="aws, aws-cn or aws-us-gov")
    args = parser.parse_args()
    with open(args.config, "rb") as f:
        config = tomllib.load(f)
    print(",".join(config_arns(config, args.partition, args.account)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
