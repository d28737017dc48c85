#!/usr/bin/env python3
"""Translate a SAM template to CloudFormation offline and print it as JSON.

Usage: python3 functions/testdata/transform.py template.yaml [Name=Value ...] > transformed.json

Name=Value pairs are parameter values, as CloudFormation hands them to the transform at deploy time
(SAM resolves some parameter Refs, e.g. in CorsConfiguration, to those values); without them SAM
uses the parameters' defaults.

It does what `sam package` then the AWS::Serverless transform would do, without AWS:
- each function's local CodeUri becomes an s3:// URI, as `sam package` would upload and rewrite it;
- the region is fixed (ap-northeast-2), so ARNs and the partition resolve without a boto session;
- the managed-policy lookup (normally IAM ListPolicies) is a fixed map of the policies SAM may add.
It exits non-zero, with the reason on stderr, if the template cannot be read or translated.
Needs aws-sam-translator (pip install aws-sam-translator; cfn-lint installs it too).
"""

import json
import os
import sys

REGION = "ap-northeast-2"

# The managed policies SAM attaches by itself to the roles it generates (arm64, no tracing, no VPC).
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "AWSLambdaVPCAccessExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
    "AWSXrayWriteOnlyAccess": "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
}


def main(argv):
    if len(argv) < 2:
        print("usage: transform.py TEMPLATE [Name=Value ...]", file=sys.stderr)
        return 2
    params = {}
    for arg in argv[2:]:
        name, sep, value = arg.partition("=")
        if not sep or not name:
            print(f"transform.py: {arg!r} is not Name=Value", file=sys.stderr)
            return 2
        params[name] = value
    # Before importing samtranslator: keep boto (which samtranslator imports) offline and in our region.
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
        from samtranslator.translator.arn_generator import ArnGenerator
        from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
        from samtranslator.translator.transform import transform
        from samtranslator.yaml_helper import yaml_parse
    except ImportError as e:
        print(f"transform.py: {e} (pip install aws-sam-translator)", file=sys.stderr)
        return 1

    class FixedPolicies(ManagedPolicyLoader):
        """The managed-policy lookup without IAM."""

        def __init__(self):
            super().__init__(iam_client=None)

        def load(self):
            return dict(MANAGED_POLICIES)

    ArnGenerator.BOTO_SESSION_REGION_NAME = REGION

    path = argv[1]
    try:
        with open(path, encoding="utf-8") as f:
            # samtranslator's loader understands the CloudFormation short tags (!Ref, !Sub, ...).
            template = yaml_parse(f.read())
    except Exception as e:  # noqa: BLE001 - any read or YAML error is a failure to report
        print(f"transform.py: cannot read {path}: {e}", file=sys.stderr)
        return 1
    if not isinstance(template, dict) or not isinstance(template.get("Resources"), dict):
        print(f"transform.py: {path} has no Resources", file=sys.stderr)
        return 1

    # What `sam package` does: upload each local CodeUri and point the function at the S3 object.
    for logical_id, resource in template["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.setdefault("Properties", {})
        uri = props.get("CodeUri")
        if uri is None or (isinstance(uri, str) and not uri.startswith("s3://")):
            props["CodeUri"] = f"s3://bucket/{logical_id}.zip"

    try:
        out = transform(template, params, FixedPolicies())
    except InvalidDocumentException as e:
        for cause in e.causes:
            print(f"transform.py: {cause.message}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - report any translator failure
        print(f"transform.py: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(out, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
