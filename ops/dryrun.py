"""The deploy dry-run (`make dryrun`, part of `make test`): what `sam deploy` would send, checked offline.

For each samconfig.toml environment the template is expanded by the SAM translator with that
environment's parameter overrides (as CloudFormation's transform would), written to
.aws-sam/dryrun/<env>.json, and checked with cfn-lint (informational rules included; what is not fixed
is justified in .cfnlintrc.yaml) and checkov (skipped checks and their reasons: .checkov.yaml).
tests/unit/test_deploy.py creates the same expansions side by side in moto's CloudFormation.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".aws-sam" / "dryrun"
CHECKOV = ROOT / ".checkov-venv" / "bin" / "checkov"


def environments(samconfig: Path = ROOT / "samconfig.toml") -> dict[str, dict[str, str]]:
    """Each samconfig environment's deploy parameter overrides (``default`` is dev)."""
    config = tomllib.loads(samconfig.read_text())
    found = {}
    for name, sections in config.items():
        if not isinstance(sections, dict) or "deploy" not in sections:
            continue
        overrides = str(sections["deploy"]["parameters"].get("parameter_overrides", ""))
        found[name] = dict(item.split("=", 1) for item in shlex.split(overrides))
    return found


def stack_name(environment: str, samconfig: Path = ROOT / "samconfig.toml") -> str:
    config = tomllib.loads(samconfig.read_text())
    return str(config[environment]["global"]["parameters"]["stack_name"])


def expand(parameters: dict[str, str] | None = None, template: Path = ROOT / "template.yaml") -> dict[str, Any]:
    """The CloudFormation template SAM would deploy with these parameters (code locations faked)."""
    import logging

    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    logging.getLogger("samtranslator").setLevel(logging.ERROR)  # its feature-toggle notices, once per function

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    document = yaml_parse(template.read_text())
    for resource in document["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    result: dict[str, Any] = transform(document, dict(parameters or {}), NoManagedPolicies())
    return result


def write_expansions() -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, parameters in environments().items():
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(expand(parameters), indent=1, default=str))
        written[name] = path
    return written


def run(command: list[str]) -> int:
    print("dry-run: " + " ".join(shlex.quote(part) for part in command), flush=True)
    return subprocess.run(command, cwd=ROOT, check=False).returncode  # noqa: S603 - our own tools


def main() -> int:
    expansions = write_expansions()
    failed = []
    for name, path in expansions.items():
        print(f"dry-run: {name} expanded to {path.relative_to(ROOT)}", flush=True)
        cfn_lint = [str(Path(sys.executable).parent / "cfn-lint"), "--config-file", ".cfnlintrc.yaml", "--", str(path)]
        if run(cfn_lint) != 0:
            failed.append(f"cfn-lint {name}")
        checkov = [str(CHECKOV), "--config-file", ".checkov.yaml", "--file", str(path)]
        if run(checkov) != 0:
            failed.append(f"checkov {name}")
    print(
        "dry-run: " + (f"FAILED: {', '.join(failed)}" if failed else "cfn-lint and checkov clean for every environment")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
