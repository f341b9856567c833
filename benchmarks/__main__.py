"""`make bench`: writes benchmarks/results.md (and .json) and prints them.

Usage: python -m benchmarks [--bench-python PATH] [--runs N] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import artifacts, cold_before, cold_start, cost, load, warm
from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent
# The stack helpers borrowed from the integration suite import the layer, which pytest's `pythonpath`
# makes importable there.
Template(ROOT / "template.yaml").put_layers_on_path()


def stack_startup(runs: int = 3) -> dict[str, Any]:
    """Seconds from `python -m devstack` to its "ready" line."""
    from tests.integration.conftest import start_stack, stop_stack

    seconds = []
    for index in range(runs):
        started = time.perf_counter()
        stack = start_stack(Path(tempfile.gettempdir()) / f"bench-startup-{os.getpid()}-{index}.log")
        seconds.append(time.perf_counter() - started)
        stop_stack(stack)
    return {"runs": runs, "median_s": round(statistics.median(seconds), 2), "max_s": round(max(seconds), 2)}


def table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(row[key]) for key in head) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="fewer runs and a smaller load (for a smoke test)")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    results: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()} ({sys.platform})",
    }
    results["cold_start"] = cold_start.measure(Path(args.bench_python), runs=runs)
    results["own_code"] = cold_start.own_code(Path(args.bench_python), runs=runs)
    heaviest = max(results["cold_start"], key=lambda row: row["ours_ms"])["function"]
    results["import_times"] = cold_start.import_times(Path(args.bench_python), heaviest)
    results["each_library"] = cold_start.each_library(Path(args.bench_python), runs=runs)
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "sam"), "build", "--parallel"], cwd=ROOT, check=True, capture_output=True
    )
    results["artifacts"] = artifacts.measure(ROOT / ".aws-sam" / "build")
    results["startup"] = stack_startup(2 if args.quick else 3)
    results["warm"] = warm.measure_apart(requests=50 if args.quick else 200)
    results["cost"] = cost.measure(payments=5 if args.quick else 20)
    from tests.integration.conftest import start_stack, stop_stack

    stack = start_stack(Path(tempfile.gettempdir()) / f"bench-load-{os.getpid()}.log")
    try:
        results["load"] = load.measure(stack.api_url, clients=20, payments_per_client=2 if args.quick else 25)
    finally:
        stop_stack(stack)
    (ROOT / "benchmarks" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report = render(results)
    (ROOT / "benchmarks" / "results.md").write_text(report)
    print(report)
    if results["load"]["lost"] or results["load"]["doubled"]:
        print(f"FAIL: {results['load']['lost']} money movements lost, {results['load']['doubled']} doubled")
        return 1
    wru = results["cost"]["bill"]["per_payment_units"]["wru"]
    if wru > cost.MAX_WRU_PER_PAYMENT:
        print(f"FAIL: a card payment costs {wru} DynamoDB write units (at most {cost.MAX_WRU_PER_PAYMENT})")
        return 1
    return 0


AUTH_FUNCTIONS = {"SignupFunction", "SigninFunction", "AuthorizerFunction"}


def cold_start_summary(rows: list[dict[str, Any]]) -> str:
    """Issue 28's bar against the lean lambdalith: every function <= 0.60 x, the auth ones <= 0.50 x, our
    code <= 1.05 x its libraries baseline."""
    worst = max(rows, key=lambda row: row["vs_lean"])
    auth = [row for row in rows if row["function"] in AUTH_FUNCTIONS]
    worst_auth = max(auth, key=lambda row: row["vs_lean"]) if auth else worst
    worst_libs = max(rows, key=lambda row: row["vs_libs"])
    worst_beside = max(rows, key=lambda row: row["vs_libs_beside_models"])
    return (
        f"\nAgainst the lean lambdalith: at most {worst['vs_lean']} x ({worst['function']}; bar 0.60), auth"
        f" functions at most {worst_auth['vs_lean']} x ({worst_auth['function']}; bar 0.50); our code at most"
        f" {worst_libs['vs_libs']} x its libraries ({worst_libs['function']}; bar 1.05), of which creating"
        f" its pydantic models {worst_libs['models_ms']} ms ({worst_libs['models']} models); beside the models"
        f" at most {worst_beside['vs_libs_beside_models']} x ({worst_beside['function']}).\n"
    )


def own_code_section(rows: list[dict[str, Any]]) -> str:
    """What our code adds to each function's libraries, timed inside one process (cold_start.own_code)."""
    if not rows:
        return ""
    over = [row for row in rows if row["vs_libs_in_process"] > 1.05]
    at_floor = [
        row for row in rows if (row["libs_ms"] + row["models_ms"] + row["modules_floor_ms"]) / row["libs_ms"] > 1.05
    ]

    def beside(row: dict[str, Any]) -> float:  # the ratio with the architecture's pydantic models taken out
        return round(float(row["libs_ms"] + row["ours_adds_ms"] - row["models_ms"]) / float(row["libs_ms"]), 3)

    worst_beside = max(rows, key=beside)
    return (
        "\n### What our code adds to its libraries, timed inside one process"
        " (ms; medians of the runs, each beside a run of the libraries baseline)\n\n"
        "The libraries loaded first as the *libraries* baseline loads them, the clients created; then the"
        " handler imported and its one-time work run, timed between two clock reads in that process (no"
        " interpreter start-up or exit in the span). `models_ms`: creating our pydantic model classes in that"
        " span; `modules_floor_ms`: importing that many empty modules (the same span, a package of"
        f" {cold_start.EMPTY_MODULES}); `rest_ms`: the rest of our code. `vs_libs_in_process` = (libraries +"
        " ours) / libraries.\n\n"
        + table(rows)
        + f"\nAbove 1.05 x: {len(over)} of {len(rows)} functions"
        + (f" (at most {max(row['vs_libs_in_process'] for row in over)} x)" if over else "")
        + f"; above it with only their models and the import of their modules (rest = 0): {len(at_floor)}"
        + (f" ({', '.join(str(row['function']) for row in at_floor)})" if at_floor else "")
        + f"; without their model classes (ours - models), at most {beside(worst_beside)} x"
        f" ({worst_beside['function']}).\n"
    )


def before_section() -> str:
    """The committed before/now run of benchmarks.cold_before (its own interleaved run)."""
    if not cold_before.BEFORE_FILE.exists():
        return ""
    before = json.loads(cold_before.BEFORE_FILE.read_text())
    return (
        f"\n### Before and after the last change that took imports off ({before['date']}; before ="
        f" {before['before']}; median of {before['runs']} interleaved runs; benchmarks/cold_start_before.json,"
        " `python -m benchmarks.cold_before REF` measures it again)\n\n"
        + table(before["rows"])
        + f"\n`-X importtime` of {before['heaviest']}, the heaviest before, by cumulative time: before\n\n"
        + table(before["importtime_before"]["function"])
        + "\n"
        + table(before["importtime_before"]["cumulative"])
        + "\nand after:\n\n"
        + table(before["importtime_now"]["function"])
        + "\n"
        + table(before["importtime_now"]["cumulative"])
        + "\nBy self time, before:\n\n"
        + table(before["importtime_before"]["self"])
        + "\nand after:\n\n"
        + table(before["importtime_now"]["self"])
    )


def render(results: dict[str, Any]) -> str:
    bill = results["cost"]["bill"]
    units = bill["per_payment_units"]
    cost_rows = [
        {
            "function": name,
            **{k: v for k, v in f.items() if k != "aws_calls_per_invocation"},
            "aws_calls": ", ".join(f"{op} x{n}" for op, n in f["aws_calls_per_invocation"].items()),
        }
        for name, f in results["cost"]["functions"].items()
    ]
    return (
        f"# Benchmark results\n\n{results['date']} on {results['machine']}.\n\n"
        "## Cold start (median wall time of a fresh interpreter: handler import + its declared one-time work)\n\n"
        + table(results["cold_start"])
        + cold_start_summary(results["cold_start"])
        + own_code_section(results.get("own_code", []))
        + "\n### `-X importtime` of the heaviest function, now (ms, each module's median of 5 runs)\n\n"
        + table(results["import_times"]["function"])
        + "\nBy cumulative time (the module and what it imports):\n\n"
        + table(results["import_times"]["cumulative"])
        + "\nBy self time (the module's own code):\n\n"
        + table(results["import_times"]["self"])
        + before_section()
        + "\n## Each prescribed library alone, over boto3 and a DynamoDB client (both GC-paused)\n\n"
        + "<= 1.25 x floor leaves 0.25 x floor for everything above it.\n\n"
        + table(results["each_library"])
        + "\n## Built artifacts (bytes, unzipped)\n\n"
        + table(results["artifacts"])
        + f"\n## Local stack startup\n\n{results['startup']}\n"
        + f"\n## Cost per payment ({results['cost']['payments']} payments measured)\n\n"
        + table(cost_rows)
        + f"\nPer payment: {bill['per_payment_units']}\n\n"
        + "Before and after events rode on the payment item (before: the committed run of 2026-12-04 00:44 UTC,"
        + " which counted no index writes):\n\n"
        + table(
            [
                {
                    "": "write units per card payment",
                    "before": f"{cost.BEFORE['wru']} (+ indexes, not counted)",
                    "now": f"{units['wru']} ({units['base_table_wru']} table + {units['gsi_wru']} indexes)",
                },
                {"": "read units per card payment", "before": cost.BEFORE["rru"], "now": units["rru"]},
                {
                    "": "monthly bill for 1 M payments without SES (USD)",
                    "before": cost.BEFORE["total_without_ses_usd"],
                    "now": bill["total_without_ses_usd"],
                },
                {
                    "": "monthly bill for 1 M payments (USD)",
                    "before": cost.BEFORE["total_usd"],
                    "now": bill["total_usd"],
                },
            ]
        )
        + "\n"
        + "Monthly AWS bill for 1 M payments (us-east-1 list prices of 2026-11, PRICES in benchmarks/cost.py):\n\n"
        + table([{"item": k, "usd": v} for k, v in bill["monthly_usd_for_1M_payments"].items()])
        + f"\nTotal: ${bill['total_usd']}\n"
        + "\n## Warm path: CPU per request, per route (ms)\n\n"
        + f"Measured {results['warm'].get('date', results['date'])}. Each route's request recorded once against"
        + f" the local stack, then replayed {results['warm']['requests']}"
        + f" times (after {results['warm']['warmup']} warm-up requests) with every AWS and Stripe answer played back"
        + " at the HTTP layer (no socket, no server CPU): `time.process_time_ns()` around the handler call, ours"
        + " (the route's function, called as Lambda calls it) and the lean lambdalith's (benchmarks/peer_lean.py,"
        + " its Mangum handler, same event) alternating. Ours excludes the authorizer (its own row; the peer checks"
        + " the token inside each route). `calls` = AWS + Stripe HTTP calls per request (benchmarks/warm.py).\n\n"
        + table(results["warm"]["routes"])
        + "\n## Load through the local stack\n\n"
        + table([results["load"]])
    )


if __name__ == "__main__":
    raise SystemExit(main())
