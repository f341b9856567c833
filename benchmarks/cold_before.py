"""Cold starts before and after a change, in one interleaved run: each function's init and one-time work
on another revision's layer and handlers (``before``: its own template's environment too) and on this
tree's (``now``), beside the lean lambdalith (``benchmarks/peer_lean.py``) and this tree's libraries
baseline (``cold_start.LIBRARIES``: what no code of ours could go below); and ``-X importtime``'s top 15
of the heaviest function on both. Written to benchmarks/cold_start_before.json, which `make bench`
shows beside its own run (committed: the figures of the last change that took imports off).

Usage: python -m benchmarks.cold_before REF [--bench-python PATH] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import cold_start
from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent
BEFORE_FILE = ROOT / "benchmarks" / "cold_start_before.json"


def checkout(ref: str, into: Path) -> None:
    """``ref``'s template, handlers and layer source, unpacked into ``into``."""
    archive = subprocess.run(
        ["git", "archive", ref, "template.yaml", "functions", "layers/payments_core"],
        cwd=ROOT, capture_output=True, check=True,
    )  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)


def build_layer(source: Path, python: Path, into: Path) -> Path:
    subprocess.run(
        ["make", "-s", "-C", str(source / "layers" / "payments_core"), "build-CoreLayer",
         f"ARTIFACTS_DIR={into}", f"PYTHON={python}", "LAMBDA_PLATFORM="],
        check=True, capture_output=True,
    )  # fmt: skip
    return into / "python"


def measure(ref: str, python: Path, runs: int) -> dict[str, Any]:
    python = python.absolute()
    commit = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "src"
        old.mkdir()
        checkout(ref, old)
        old_layer = build_layer(old, python, Path(tmp) / "layer")
        new_layer, _ = cold_start.build_layers(python)
        old_specs = Template(old / "template.yaml").functions()
        new_template = Template(ROOT / "template.yaml")
        base_env = cold_start.probe_env()
        peer_env = {**base_env, "PYTHONPATH": str(ROOT / "benchmarks")}
        rows: list[dict[str, Any]] = []
        for logical_id, spec in sorted(new_template.functions().items()):
            old_spec = old_specs[logical_id]
            body = f"import {spec.module}\nfrom payments_core import snapstart\nsnapstart.warm_up()"
            old_env = {**base_env, **old_spec.environment, "PYTHONPATH": f"{old_spec.code_dir}:{old_layer}"}
            new_env = {**base_env, **spec.environment, "PYTHONPATH": f"{spec.code_dir}:{new_layer}"}
            services = cold_start.services_of(new_template, logical_id)
            # as our functions create them (cold_start.OUR_CLIENTS), so *now_vs_libs* is what our own code adds
            clients = cold_start.OUR_CLIENTS.format(
                data=str(new_layer / "payments_core" / "aws_data"), services=services
            )
            libraries = cold_start.libraries_of(python, body, new_env, spec.code_dir)
            libraries_body = "\n".join(
                [cold_start.PAUSE_GC, cold_start.DEFERRED, "import boto3",
                 *(cold_start.LIBRARIES[name] for name in libraries), cold_start.RESUME_GC, clients]
            )  # fmt: skip
            samples: dict[str, list[float]] = {"before": [], "now": [], "libs": [], "lean": []}
            for _ in range(runs):
                samples["before"].append(cold_start.run(python, body, old_env, old_spec.code_dir).wall_s)
                samples["now"].append(cold_start.run(python, body, new_env, spec.code_dir).wall_s)
                samples["libs"].append(cold_start.run(python, libraries_body, new_env, spec.code_dir).wall_s)
                samples["lean"].append(cold_start.run(python, "import peer_lean", peer_env, ROOT).wall_s)
            median = {name: statistics.median(values) for name, values in samples.items()}
            rows.append(
                {
                    "function": logical_id,
                    "before_ms": round(median["before"] * 1000),
                    "now_ms": round(median["now"] * 1000),
                    "libs_ms": round(median["libs"] * 1000),
                    "lean_ms": round(median["lean"] * 1000),
                    "before_vs_lean": round(median["before"] / median["lean"], 2),
                    "now_vs_lean": round(median["now"] / median["lean"], 2),
                    "now_vs_before": round(median["now"] / median["before"], 2),
                    "now_vs_libs": round(median["now"] / median["libs"], 2),
                }
            )
            print(f"cold start before/now {logical_id}: {rows[-1]}", flush=True)
        heaviest = max(rows, key=lambda row: row["before_ms"])["function"]
        return {
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "before": f"{ref} ({commit.strip()})",
            "runs": runs,
            "rows": rows,
            "heaviest": heaviest,
            "importtime_before": cold_start.import_times(
                python, heaviest, layer=old_layer, template=old / "template.yaml"
            ),
            "importtime_now": cold_start.import_times(python, heaviest, layer=new_layer),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("ref", help="the revision before the change (e.g. main)")
    parser.add_argument("--bench-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    results = measure(args.ref, Path(args.bench_python), args.runs)
    BEFORE_FILE.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
