"""Cold start: a fresh interpreter that imports a handler and creates the clients it uses (Lambda's
init phase), against (a) the floor: an interpreter that only imports boto3 and creates those
clients, and (b) one FastAPI + Mangum function with every route and the same dependencies.

Runs in a virtual environment holding only what Lambda would (the layer's requirements and boto3),
so the developer tools (moto and friends) do not weigh on the import times. Reported: the median of
the wall time of N runs, interleaved, and the peak resident memory.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent
SERVICE_OF_ACTION = {"dynamodb": "dynamodb", "ssm": "ssm", "events": "events", "ses": "ses", "sqs": "sqs"}

PROBE = """
import json, resource, sys, time
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
print(json.dumps({{"init_s": elapsed, "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


@dataclass
class Sample:
    wall_s: float
    init_s: float
    maxrss_kb: int


def services_of(template: Template, logical_id: str) -> list[str]:
    """AWS services a function's IAM policy lets it call: the clients its floor creates."""
    found: set[str] = set()
    for policy in template.properties(logical_id).get("Policies") or []:
        for statement in (policy or {}).get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            found |= {SERVICE_OF_ACTION[a.split(":")[0]] for a in actions if a.split(":")[0] in SERVICE_OF_ACTION}
    return sorted(found)


def run(python: Path, body: str, env: dict[str, str], cwd: Path) -> Sample:
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", PROBE.format(body=body)], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(wall, float(data["init_s"]), int(data["maxrss_kb"]))


def measure(python: Path, runs: int = 15) -> list[dict[str, object]]:
    template = Template(ROOT / "template.yaml")
    base_env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    peer_env = {**base_env, "PYTHONPATH": str(ROOT / "benchmarks")}
    rows: list[dict[str, object]] = []
    peer: list[Sample] = []
    for logical_id, spec in sorted(template.functions().items()):
        services = services_of(template, logical_id)
        env = {**base_env, **spec.environment, "PYTHONPATH": f"{spec.code_dir}:{ROOT / 'layers' / 'payments_core'}"}
        create = "; ".join(f"client({s!r})" if s != "dynamodb" else "dynamodb_client()" for s in services)
        ours_body = f"import {spec.module}\nfrom payments_core.aws import client, dynamodb_client\n{create}"
        floor_body = "import boto3\n" + "\n".join(f"boto3.client({s!r})" for s in services)
        ours: list[Sample] = []
        floor: list[Sample] = []
        for _ in range(runs):
            ours.append(run(python, ours_body, env, spec.code_dir))
            floor.append(run(python, floor_body, base_env, ROOT))
            if len(peer) < runs:
                peer.append(run(python, "import peer_fastapi", peer_env, ROOT))
        ours_s = statistics.median(s.wall_s for s in ours)
        floor_s = statistics.median(s.wall_s for s in floor)
        peer_s = statistics.median(s.wall_s for s in peer)
        rows.append(
            {
                "function": logical_id,
                "clients": ",".join(services) or "-",
                "ours_ms": round(ours_s * 1000),
                "floor_ms": round(floor_s * 1000),
                "peer_ms": round(peer_s * 1000),
                "vs_floor": round(ours_s / floor_s, 2),
                "vs_fastapi": round(ours_s / peer_s, 2),
                "peak_mb": round(max(s.maxrss_kb for s in ours) / 1024, 1),
                "peer_peak_mb": round(max(s.maxrss_kb for s in peer) / 1024, 1),
            }
        )
        print(f"cold start {logical_id}: {rows[-1]}", flush=True)
    return rows
