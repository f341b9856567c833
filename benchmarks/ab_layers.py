"""Cold start of every function at two revisions of the code, in one interleaved run: did a change
(a restructuring, a trimming) make any function start slower?

    python -m benchmarks.ab_layers --base <git revision> [--runs 15] [--bench-python PATH]

Each revision's layer is built by its own Makefile (bytecode included, as it ships) from a detached
worktree of that revision; each function is probed as ``benchmarks.cold_start`` probes ours (a fresh
interpreter imports the handler and does its declared one-time work, ``snapstart.warm_up()``), with
that revision's template environment and handler directory. Runs alternate base / head per function,
so the machine's drift weighs on both alike. Reported per function: the medians and head / base.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.cold_start import ROOT, build_layers, probe_env, run
from devstack.template import Template


def checkout(revision: str, into: Path) -> Path:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), revision], check=True)
    return into


def layer_of(tree: Path, python: Path, into: Path) -> Path:
    """`tree`'s layer as `sam build` makes it, with bytecode (into a directory of our own)."""
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["make", "-s", "-C", str(tree / "layers" / "payments_core"), "build-CoreLayer",
         f"ARTIFACTS_DIR={into}", f"PYTHON={python}", "LAMBDA_PLATFORM="],
        check=True,
    )  # fmt: skip
    return into / "python"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True, help="the revision to compare against (e.g. a commit before a change)")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bench-python", default=str(ROOT / ".bench-venv" / "bin" / "python"))
    args = parser.parse_args()
    python = Path(args.bench_python).absolute()
    work = Path(tempfile.mkdtemp(prefix="ab-layers-"))
    base_tree = checkout(args.base, work / "base")
    try:
        layers = {"base": layer_of(base_tree, python, work / "base-layer"), "head": build_layers(python)[0]}
        rows = []
        head_functions = Template(ROOT / "template.yaml").functions()
        base_functions = Template(base_tree / "template.yaml").functions()
        for logical_id in sorted(set(head_functions) & set(base_functions)):
            specs = {"base": base_functions[logical_id], "head": head_functions[logical_id]}
            samples: dict[str, list[float]] = {"base": [], "head": []}
            for _ in range(args.runs):
                for side in ("base", "head"):
                    spec = specs[side]
                    env = {**probe_env(), **spec.environment, "PYTHONPATH": f"{spec.code_dir}:{layers[side]}"}
                    body = f"import {spec.module}\nfrom payments_core import snapstart\nsnapstart.warm_up()"
                    samples[side].append(run(python, body, env, spec.code_dir).wall_s)
            base_s, head_s = (statistics.median(samples[side]) for side in ("base", "head"))
            rows.append((logical_id, round(base_s * 1000), round(head_s * 1000), round(head_s / base_s, 2)))
            print(f"{logical_id}: base {rows[-1][1]} ms, head {rows[-1][2]} ms, head/base {rows[-1][3]}", flush=True)
        print(f"\n| function | base_ms ({args.base}) | head_ms | head / base |\n|---|---|---|---|")
        for row in rows:
            print("| " + " | ".join(str(cell) for cell in row) + " |")
        ratios = [row[3] for row in rows]
        print(f"\nmedian head/base {statistics.median(ratios)}, worst {max(ratios)} ({args.runs} interleaved runs)")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
