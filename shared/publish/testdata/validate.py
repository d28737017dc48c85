#!/usr/bin/env python3
"""Validate event details against docs/events.schema.json with a real JSON Schema validator.

Usage: validate.py SCHEMA < lines of {"type": DETAIL_TYPE, "detail": {...}}
Prints one JSON line per input: {"ok": bool, "error": str}. A detail is valid when it matches both
$defs[DETAIL_TYPE] and the schema as a whole (oneOf: exactly one detail type).
Needs jsonschema (pip install cfn-lint brings it).
"""
import json
import sys

from jsonschema import Draft202012Validator


def main(argv):
    schema = json.load(open(argv[1]))
    Draft202012Validator.check_schema(schema)
    whole = Draft202012Validator(schema)
    for line in sys.stdin:
        case = json.loads(line)
        part = dict(schema)
        part.pop("oneOf")
        part["$ref"] = "#/$defs/" + case["type"]
        errors = [e.message for e in Draft202012Validator(part).iter_errors(case["detail"])]
        errors += [e.message for e in whole.iter_errors(case["detail"])]
        print(json.dumps({"ok": not errors, "error": "; ".join(errors)}))


if __name__ == "__main__":
    main(sys.argv)
