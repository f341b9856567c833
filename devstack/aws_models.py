"""The botocore data the layer ships: the API models of the operations our functions' IAM policies
allow, and nothing else (``layers/payments_core/payments_core/aws_data``).

A client is built from its service's model. botocore's loader looks for it by listing every one of
the ~450 service directories it carries (twice per client), parses the whole model (SSM's is 1.5 MB
of JSON for the one ``GetParameter`` we call) and the 1.2 MB ``endpoints.json``: about 70 ms of a
sign-in's cold start (docs/benchmarks.md). The functions' clients read this directory only
(``payments_core.aws``): each model keeps its metadata and the operations the template's policies
grant (``dynamodb:GetItem`` -> ``GetItem``), with every shape they reach, verbatim but for the
documentation; the endpoint rule sets, partitions, retry and default configuration are botocore's
own files, copied. So a request is serialised exactly as with botocore's full model
(tests/unit/test_aws_models.py), and a call that IAM would refuse in AWS fails locally too, as an
unknown operation.

Generated from the pinned botocore and template.yaml: ``python -m devstack.aws_models`` rewrites the
directory, ``--check`` fails if it is out of date (a unit test runs the same check, so a botocore
upgrade or a new IAM action cannot land without it).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import botocore

from devstack.iam import statements
from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "layers" / "payments_core" / "payments_core" / "aws_data"
BOTOCORE_DATA = Path(botocore.__file__).parent / "data"
# botocore's own files that every client reads (retry rules, defaults, partitions, legacy endpoints).
SHARED = ("_retry.json", "sdk-default-configuration.json", "partitions.json")
# What Lambda's event source mappings call with a function's role (reading a stream, receiving from
# a queue) and what its runtime sends (logs, X-Ray): no client of ours calls them.
NOT_OUR_CALLS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
}
NOT_CLIENTS = {"logs", "xray", "kms"}
# DynamoDB's transactions have no IAM action of their own: each item in one is authorised as the
# PutItem, UpdateItem, DeleteItem or GetItem it is, a condition check as ConditionCheckItem (an IAM
# action with no API operation). "Using IAM with DynamoDB transactions", DynamoDB developer guide.
AUTHORISED_BY_PARTS = {
    "dynamodb:TransactWriteItems": {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
    "dynamodb:TransactGetItems": {"dynamodb:GetItem"},
}
IAM_ONLY = {"dynamodb:ConditionCheckItem"}
UNDOCUMENTED = ("documentation", "documentationUrl")


def policy_actions(template: Template, logical_id: str) -> set[str]:
    """The IAM actions a function's policies (or its own role's) allow."""
    return {action for statement in statements(template, logical_id) for action in statement.actions}


def operations(template: Template) -> dict[str, set[str]]:
    """Service -> the operations our clients may call: every function's policy actions, but those
    called by Lambda itself rather than by our code."""
    wanted: dict[str, set[str]] = {}
    for logical_id in template.functions():
        actions = policy_actions(template, logical_id)
        actions |= {operation for operation, parts in AUTHORISED_BY_PARTS.items() if actions & parts}
        for action in actions - NOT_OUR_CALLS - IAM_ONLY:
            service, operation = action.split(":", 1)
            if service in NOT_CLIENTS:
                continue
            if "*" in operation:
                raise ValueError(f"{logical_id}: wildcard action {action}: list the operations")
            wanted.setdefault(service, set()).add(operation)
    return wanted


def _undocumented(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _undocumented(item) for key, item in value.items() if key not in UNDOCUMENTED}
    if isinstance(value, list):
        return [_undocumented(item) for item in value]
    return value


def _latest(service: str, kind: str) -> Path:
    versions = sorted(p for p in (BOTOCORE_DATA / service).iterdir() if any(p.glob(f"{kind}.json*")))
    if not versions:
        raise FileNotFoundError(f"botocore has no {kind} for {service}")
    return versions[-1]


def _read(path_without_suffix: Path) -> Any:
    plain = path_without_suffix.with_name(path_without_suffix.name + ".json")
    if plain.exists():
        return json.loads(plain.read_text())
    with gzip.open(plain.with_name(plain.name + ".gz"), "rt") as file:
        return json.load(file)


def trimmed_model(service: str, wanted: set[str]) -> tuple[str, dict[str, Any]]:
    """(api version, the service model with only ``wanted`` operations and the shapes they reach)."""
    version_dir = _latest(service, "service-2")
    model = _read(version_dir / "service-2")
    missing = wanted - set(model["operations"])
    if missing:
        raise ValueError(f"{service} has no operation {sorted(missing)} (IAM action names are API names)")
    shapes: dict[str, Any] = model["shapes"]
    reached: set[str] = set()

    def reach(name: str) -> None:
        if name in reached:
            return
        reached.add(name)
        shape = shapes[name]
        for key in ("member", "key", "value"):
            if key in shape:
                reach(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            reach(member["shape"])

    kept = {name: op for name, op in model["operations"].items() if name in wanted}
    for op in kept.values():
        for key in ("input", "output"):
            if key in op:
                reach(op[key]["shape"])
        for error in op.get("errors", []):
            reach(error["shape"])
    trimmed = {
        **model,
        "operations": kept,
        "shapes": {name: shape for name, shape in shapes.items() if name in reached},
    }
    # Documentation only where botocore reads it with a default (shapes and operations; the service's
    # own metadata and client context parameters are kept whole: botocore indexes theirs).
    trimmed["operations"] = _undocumented(trimmed["operations"])
    trimmed["shapes"] = _undocumented(trimmed["shapes"])
    return version_dir.name, trimmed


def trimmed_endpoints(services: set[str]) -> dict[str, Any]:
    """botocore's endpoints.json with every partition kept and only our services listed."""
    endpoints = json.loads((BOTOCORE_DATA / "endpoints.json").read_text())
    for partition in endpoints["partitions"]:
        partition["services"] = {name: data for name, data in partition["services"].items() if name in services}
    return dict(endpoints)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n")


def generate(into: Path, template: Template | None = None) -> None:
    template = template or Template(ROOT / "template.yaml")
    wanted = operations(template)
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for name in SHARED:
        shutil.copyfile(BOTOCORE_DATA / name, into / name)
    prefixes: set[str] = set()
    for service, names in sorted(wanted.items()):
        version, model = trimmed_model(service, names)
        prefixes.add(model["metadata"]["endpointPrefix"])  # endpoints.json's name for it (SES: email)
        _write_json(into / service / version / "service-2.json", model)
        rules = _latest(service, "endpoint-rule-set-1")
        for source in sorted(rules.glob("endpoint-rule-set-1.json*")):
            shutil.copyfile(source, into / service / rules.name / source.name)
    _write_json(into / "endpoints.json", trimmed_endpoints(prefixes))
    (into / "README.md").write_text(
        "Generated by `python -m devstack.aws_models` from botocore "
        f"{botocore.__version__} and template.yaml: do not edit.\n\n"
        + "".join(f"- {service}: {', '.join(sorted(names))}\n" for service, names in sorted(wanted.items()))
    )


def differences(committed: Path = TARGET) -> list[str]:
    """Files that differ between ``committed`` and what generate() makes now."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "aws_data"
        generate(fresh)
        mine = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
        theirs = {
            p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and "__pycache__" not in p.parts
        }
        changed = {p for p in mine & theirs if (fresh / p).read_bytes() != (committed / p).read_bytes()}
        return sorted(str(p) for p in (mine ^ theirs) | changed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed data is out of date")
    args = parser.parse_args()
    if args.check:
        stale = differences()
        if stale:
            print(f"{TARGET} is out of date ({', '.join(stale)}): run python -m devstack.aws_models", file=sys.stderr)
            return 1
        return 0
    generate(TARGET)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
