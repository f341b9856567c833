"""Cold start: a fresh interpreter that imports a handler and does its one-time work (Lambda's init
phase plus what the first request would set up: ``payments_core.snapstart.warm_up()``, the work
SnapStart snapshots), against (a) the floor: an interpreter that only imports boto3 and creates the
clients that function's role allows, (b) the floor plus the prescribed libraries that function ends up
with (pydantic with one model, Powertools Logger/Metrics/Event Handler/..., argon2, PyJWT, Stripe),
loaded as our functions load them (clients from the API models the layer ships, ``OUR_CLIENTS``),
which says how much is our own code, (c) one FastAPI + Mangum function with every route and the
same dependencies (``peer_fastapi``), and (d) the lean lambdalith (``peer_lean``: FastAPI + Mangum,
every route working with its models, boto3 clients, Stripe, PyJWT, argon2, Powertools Logger and
Metrics; no Tracer, no Idempotency), the alternative a user would pick (``vs_lean``).

Our handlers pause the garbage collector for their init phase (``payments_core.init_phase``), so
the floor and the peer are also measured with the same pause (``*_gc`` columns: collector off while
importing, what was built frozen, collector back on before the clients are created), for a
like-for-like ratio next to the one against the baselines as they usually run. The libraries floor
is measured with the pause only (it exists to say how much of the time is our own code).

Ours runs on the layer as it ships, built for this machine by the layer's own Makefile (bytecode
included), and once more on the same layer without bytecode (what ``BuildMethod: python3.13`` ships).
The floor and the peer run in a virtual environment holding only what Lambda would, so developer tools
do not weigh on the import times. Each probe ends with ``os._exit``: Lambda never tears an
interpreter down on the request path. Reported: the median wall time of N interleaved runs, from
process start to the end of init, and the peak resident memory.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack import aws_models
from devstack.template import Template

ROOT = Path(__file__).resolve().parent.parent
SERVICE_OF_ACTION = {"dynamodb": "dynamodb", "ssm": "ssm", "events": "events", "ses": "ses", "sqs": "sqs", "s3": "s3"}
# Peak memory is the process's VmHWM: getrusage's ru_maxrss survives exec on Linux, so in a child
# it reports the parent's size whenever that is larger.
PROBE = """
import json, os, sys, time
start = time.perf_counter()
{body}
elapsed = time.perf_counter() - start
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({{"init_s": elapsed, "maxrss_kb": peak}}), flush=True)
os._exit(0)
"""


# The libraries the architecture prescribes, by the module a function ends up with; and what using
# each costs at least (one pydantic model, the Stripe SDK's lazily loaded parts...), loaded as our
# functions load them (payments_core.lazy_imports, DEFERRED below): the Stripe SDK without requests (a
# bare HTTPClient stands for ours on urllib3, which botocore loads anyway), the Event Handler's HTTP API
# resolver without the package's other resolvers. So *vs_libs* is what our own code adds.
LIBRARIES = {
    "pydantic": "import pydantic\nclass _Model(pydantic.BaseModel):\n    value: int = pydantic.Field(ge=0)",
    "aws_lambda_powertools.logging": "from aws_lambda_powertools.logging import Logger\nLogger()",
    "aws_lambda_powertools.metrics": "from aws_lambda_powertools.metrics import Metrics\nMetrics()",
    "aws_lambda_powertools.event_handler": (
        "from payments_core.event_handler import APIGatewayHttpResolver\nAPIGatewayHttpResolver()"
    ),
    "aws_lambda_powertools.utilities.batch": "import aws_lambda_powertools.utilities.batch",
    "aws_lambda_powertools.utilities.idempotency": "import aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parser": "import aws_lambda_powertools.utilities.parser.models",
    "aws_lambda_powertools.utilities.parameters": "import aws_lambda_powertools.utilities.parameters",
    "argon2": "import argon2\nargon2.PasswordHasher()",
    "jwt": "import jwt",
    "stripe": (
        "sys.modules['requests'] = None\nimport stripe\ndel sys.modules['requests']\n"
        "c = stripe.StripeClient('sk_test_unused', http_client=stripe.HTTPClient())\n"
        "_ = (c.v1.payment_intents, c.v1.refunds, stripe.WebhookSignature)"
    ),
}
# The init-phase treatment of our handlers (payments_core.init_phase), for like-for-like baselines.
PAUSE_GC = "import gc\ngc.disable()"
# What every function's init phase defers (payments_core.init_phase).
DEFERRED = "from payments_core.lazy_imports import defer\ndefer('asyncio')"
RESUME_GC = "gc.freeze()\ngc.enable()"
# The same libraries as they load when used plainly (the Stripe SDK with its RequestsClient, the Event
# Handler from its package, asyncio imported), the baseline *vs_libs* was read against before issue 28:
# *vs_libs_plain*.
PLAIN_LIBRARIES = {
    **LIBRARIES,
    "aws_lambda_powertools.event_handler": (
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\nAPIGatewayHttpResolver()"
    ),
    "stripe": (
        "import stripe\nc = stripe.StripeClient('sk_test_unused', http_client=stripe.RequestsClient())\n"
        "_ = (c.v1.payment_intents, c.v1.refunds, stripe.WebhookSignature)"
    ),
}
# The clients as our functions create them (payments_core.aws): botocore's, from the API models the layer
# ships (only the operations IAM grants, devstack/aws_models.py), for *libs*; the floor and the plain
# libraries baseline create them as boto3.client() does, from botocore's full data.
OUR_CLIENTS = (
    "import botocore.loaders, botocore.session\n_session = botocore.session.Session()\n"
    "_session.register_component('data_loader', botocore.loaders.Loader("
    "extra_search_paths=[{data!r}], include_default_search_paths=False))\n"
    "for _service in {services!r}:\n    _session.create_client(_service)"
)
# Ours once more, with the time spent creating our pydantic model classes (fields collected, schema
# built: what pydantic does when a class statement runs) summed, for *models_ms*: the cost of the
# architecture's "pydantic v2 for every model" in each function. The first model a process creates
# also pays pydantic's own one-time setup, which the libraries baseline pays with its one model, so it
# is left out of the sum; *vs_libs_beside_models* = (ours - models) / libraries, what the rest of our
# code adds.
MODELS_TIMER = """
import pydantic._internal._model_construction as _construction
_create = _construction.ModelMetaclass.__new__
_created = []
def _timed(mcs, name, bases, namespace, *args, **kwargs):
    started = time.perf_counter()
    cls = _create(mcs, name, bases, namespace, *args, **kwargs)
    _created.append((str(namespace.get("__module__", "")), time.perf_counter() - started))
    return cls
_construction.ModelMetaclass.__new__ = _timed
"""
MODELS_PROBE = """
import json, os, sys, time
{timer}
{body}
_models = [(module, spent) for module, spent in _created if not module.startswith("pydantic.")]  # not BaseModel
_ours = [spent for module, spent in _models[1:] if module.startswith("payments_core")]
print(json.dumps({{"models_s": sum(_ours), "models": len(_ours)}}), flush=True)
os._exit(0)
"""
LIST_LIBRARIES = "import sys\nprint(json.dumps(sorted(set(sys.modules) & {names!r})), flush=True)"


def libraries_loaded(names: list[str]) -> str:
    """The libraries baseline's code up to its clients: boto3 and ``names`` (``LIBRARIES``) loaded as our
    functions load them, with the GC paused as their init phase pauses it."""
    return "\n".join([PAUSE_GC, DEFERRED, "import boto3", *(LIBRARIES[name] for name in names), RESUME_GC])


@dataclass
class Sample:
    wall_s: float
    init_s: float
    maxrss_kb: int


def services_of(template: Template, logical_id: str) -> list[str]:
    """AWS services a function's IAM policy lets it call: the clients its floor creates (the actions
    Lambda itself calls with the role, reading a stream or a queue, create none)."""
    actions = aws_models.policy_actions(template, logical_id) - aws_models.NOT_OUR_CALLS
    found = {SERVICE_OF_ACTION[a.split(":")[0]] for a in actions if a.split(":")[0] in SERVICE_OF_ACTION}
    return sorted(found)


def run(python: Path, body: str, env: dict[str, str], cwd: Path) -> Sample:
    started = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", PROBE.format(body=body)], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Sample(wall, float(data["init_s"]), int(data["maxrss_kb"]))


def models_time(python: Path, body: str, env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Seconds spent creating our model classes in ``body`` (all but a process's first model), and
    how many."""
    data = _json_probe(python, MODELS_PROBE.format(timer=MODELS_TIMER, body=body), env, cwd)
    return float(data["models_s"]), int(data["models"])


def libraries_of(python: Path, body: str, env: dict[str, str], cwd: Path) -> list[str]:
    """The prescribed libraries a function's init leaves loaded."""
    code = PROBE.format(body=body + "\n" + LIST_LIBRARIES.format(names=set(LIBRARIES)))
    done = subprocess.run([str(python), "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    names: list[str] = json.loads(done.stdout.strip().splitlines()[0])
    return names


def layer_dirs(python: Path) -> tuple[Path, Path]:
    """Where build_layers() puts the layer for this interpreter's venv: (with bytecode, without)."""
    into = python.absolute().parent.parent  # not resolve(): a venv's python is a symlink
    return into / "layer", into / "layer-without-bytecode"


def build_layers(python: Path) -> tuple[Path, Path]:
    """The layer as `sam build` makes it, for this machine: (with bytecode, without bytecode)."""
    python = python.absolute()
    compiled, source = layer_dirs(python)
    for path in (compiled, source):
        shutil.rmtree(path, ignore_errors=True)
    subprocess.run(
        ["make", "-s", "-C", str(ROOT / "layers" / "payments_core"), "build-CoreLayer",
         f"ARTIFACTS_DIR={compiled}", f"PYTHON={python}", "LAMBDA_PLATFORM="],
        check=True,
    )  # fmt: skip
    shutil.copytree(compiled, source, ignore=shutil.ignore_patterns("__pycache__"))
    return compiled / "python", source / "python"


def probe_env() -> dict[str, str]:
    """What every probe runs with: a region and dummy keys (no credential lookup), no bytecode written."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def measure(python: Path, runs: int = 15) -> list[dict[str, object]]:
    python = python.absolute()
    template = Template(ROOT / "template.yaml")
    layer, layer_without_bytecode = build_layers(python)
    base_env = probe_env()
    peer_env = {**base_env, "PYTHONPATH": str(ROOT / "benchmarks")}
    rows: list[dict[str, object]] = []
    for logical_id, spec in sorted(template.functions().items()):
        services = services_of(template, logical_id)
        env = {**base_env, **spec.environment, "PYTHONPATH": f"{spec.code_dir}:{layer}"}
        env_without_bytecode = {**env, "PYTHONPATH": f"{spec.code_dir}:{layer_without_bytecode}"}
        ours_body = f"import {spec.module}\nfrom payments_core import snapstart\nsnapstart.warm_up()"
        clients_body = "\n".join(f"boto3.client({s!r})" for s in services)
        floor_body = f"import boto3\n{clients_body}"
        floor_gc_body = "\n".join([PAUSE_GC, "import boto3", RESUME_GC, clients_body])
        libraries = libraries_of(python, ours_body, env, spec.code_dir)
        our_clients = OUR_CLIENTS.format(data=str(layer / "payments_core" / "aws_data"), services=services)
        libraries_body = "\n".join([libraries_loaded(libraries), our_clients])
        plain_libraries_body = "\n".join(
            [PAUSE_GC, "import boto3", *(PLAIN_LIBRARIES[name] for name in libraries), RESUME_GC, clients_body]
        )
        peer_gc_body = "\n".join([PAUSE_GC, "import peer_fastapi", RESUME_GC])
        ours: list[Sample] = []
        models: list[tuple[float, int]] = []
        without_bytecode: list[Sample] = []
        floor: list[Sample] = []
        floor_gc: list[Sample] = []
        with_libraries: list[Sample] = []
        with_plain_libraries: list[Sample] = []
        peer: list[Sample] = []  # sampled with each function: the machine's speed drifts over a run
        peer_gc: list[Sample] = []
        lean: list[Sample] = []
        for _ in range(runs):
            ours.append(run(python, ours_body, env, spec.code_dir))
            models.append(models_time(python, ours_body, env, spec.code_dir))
            without_bytecode.append(run(python, ours_body, env_without_bytecode, spec.code_dir))
            floor.append(run(python, floor_body, base_env, ROOT))
            floor_gc.append(run(python, floor_gc_body, base_env, ROOT))
            with_libraries.append(run(python, libraries_body, env, spec.code_dir))
            with_plain_libraries.append(run(python, plain_libraries_body, env, spec.code_dir))
            peer.append(run(python, "import peer_fastapi", peer_env, ROOT))
            peer_gc.append(run(python, peer_gc_body, peer_env, ROOT))
            lean.append(run(python, "import peer_lean", peer_env, ROOT))
        ours_s = statistics.median(s.wall_s for s in ours)
        models_s = statistics.median(spent for spent, _ in models)
        without_bytecode_s = statistics.median(s.wall_s for s in without_bytecode)
        floor_s = statistics.median(s.wall_s for s in floor)
        floor_gc_s = statistics.median(s.wall_s for s in floor_gc)
        libraries_s = statistics.median(s.wall_s for s in with_libraries)
        plain_libraries_s = statistics.median(s.wall_s for s in with_plain_libraries)
        peer_s = statistics.median(s.wall_s for s in peer)
        peer_gc_s = statistics.median(s.wall_s for s in peer_gc)
        lean_s = statistics.median(s.wall_s for s in lean)
        rows.append(
            {
                "function": logical_id,
                "clients": ",".join(services) or "-",
                "libraries": ",".join(name.rsplit(".", 1)[-1] for name in libraries),
                "ours_ms": round(ours_s * 1000),
                "no_pyc_ms": round(without_bytecode_s * 1000),
                "floor_ms": round(floor_s * 1000),
                "floor_gc_ms": round(floor_gc_s * 1000),
                "libs_ms": round(libraries_s * 1000),
                "models": models[0][1],
                "models_ms": round(models_s * 1000),
                "libs_plain_ms": round(plain_libraries_s * 1000),
                "peer_ms": round(peer_s * 1000),
                "peer_gc_ms": round(peer_gc_s * 1000),
                "lean_ms": round(lean_s * 1000),
                "vs_floor": round(ours_s / floor_s, 2),
                "vs_floor_gc": round(ours_s / floor_gc_s, 2),
                "vs_libs": round(ours_s / libraries_s, 2),
                "vs_libs_plain": round(ours_s / plain_libraries_s, 2),
                "vs_libs_beside_models": round((ours_s - models_s) / libraries_s, 2),
                # The libraries alone against the floor (both paused): what no code of ours could go below.
                "libs_vs_floor": round(libraries_s / floor_gc_s, 2),
                "vs_fastapi": round(ours_s / peer_s, 2),
                "vs_fastapi_gc": round(ours_s / peer_gc_s, 2),
                "vs_lean": round(ours_s / lean_s, 2),
                "no_pyc_vs_ours": round(without_bytecode_s / ours_s, 2),
                "peak_mb": round(max(s.maxrss_kb for s in ours) / 1024, 1),
                "peer_peak_mb": round(max(s.maxrss_kb for s in peer) / 1024, 1),
            }
        )
        print(f"cold start {logical_id}: {rows[-1]}", flush=True)
    return rows


def each_library(python: Path, runs: int = 15) -> list[dict[str, object]]:
    """Each prescribed library alone, used once, over a floor of boto3 and a DynamoDB client (the
    client nearly every function creates), both with the GC pause of the *libraries* baseline: what
    one library costs above the floor, as a share of it. "<= 1.25 x floor" leaves 0.25 of the floor
    for everything above it, libraries and our code together. Shares overlap where libraries share
    dependencies (Parser includes pydantic), so they do not add up to a function's *libraries* row."""
    python = python.absolute()
    layer = layer_dirs(python)[0] / "python"
    if not layer.exists():  # measure() builds it
        layer, _ = build_layers(python)
    env = {
        **probe_env(),
        "POWERTOOLS_SERVICE_NAME": "bench",
        "POWERTOOLS_METRICS_NAMESPACE": "bench",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",  # as every function runs (template.yaml Globals)
        "PYTHONPATH": str(layer),
    }
    bodies = {
        name: "\n".join([PAUSE_GC, DEFERRED, "import boto3", code, RESUME_GC, "boto3.client('dynamodb')"])
        for name, code in {"(floor)": "", **LIBRARIES}.items()
    }
    samples: dict[str, list[float]] = {name: [] for name in bodies}
    for _ in range(runs):
        for name, body in bodies.items():
            samples[name].append(run(python, body, env, ROOT).wall_s)
    floor_s = statistics.median(samples["(floor)"])
    rows: list[dict[str, object]] = []
    for name in LIBRARIES:
        library_s = statistics.median(samples[name])
        rows.append(
            {
                "library": name,
                "ms": round(library_s * 1000),
                "floor_ms": round(floor_s * 1000),
                "extra_ms": round((library_s - floor_s) * 1000),
                "extra_vs_floor": round((library_s - floor_s) / floor_s, 2),
            }
        )
    print(f"each library: {rows}", flush=True)
    return rows


def import_times(
    python: Path,
    logical_id: str,
    top: int = 15,
    layer: Path | None = None,
    template: Path | None = None,
    runs: int = 5,
) -> dict[str, list[dict[str, object]]]:
    """``-X importtime`` of one function's init and one-time work (the probe of *ours*): the ``top``
    modules by cumulative time (with what they import) and by self time (their own code), in ms, each
    module's median over ``runs`` runs (one run on a shared machine ranks them by its hiccups).
    ``layer`` and ``template`` (with its handlers beside it) default to this tree's."""
    python = python.absolute()
    spec = Template(template or ROOT / "template.yaml").functions()[logical_id]
    layer = layer or layer_dirs(python)[0] / "python"
    code_dir = spec.code_dir
    env = {**probe_env(), **spec.environment, "PYTHONPATH": f"{code_dir}:{layer}"}
    body = f"import {spec.module}\nfrom payments_core import snapstart\nsnapstart.warm_up()"
    found: dict[str, list[tuple[int, int]]] = {}
    for _ in range(runs):
        done = subprocess.run(
            [str(python), "-X", "importtime", "-c", PROBE.format(body=body)],
            env=env, cwd=code_dir, capture_output=True, text=True, check=True,
        )  # fmt: skip
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, cumulative_us, name = (part.strip() for part in line.removeprefix("import time:").split("|"))
            found.setdefault(name, []).append((int(cumulative_us), int(self_us)))
    rows = [
        (statistics.median(c for c, _ in times), statistics.median(s for _, s in times), name)
        for name, times in found.items()
    ]

    def listed(key: int) -> list[dict[str, object]]:
        ordered = sorted(rows, key=lambda row: row[key], reverse=True)[:top]
        return [
            {"module": name, "cumulative_ms": round(cumulative / 1000, 1), "self_ms": round(own / 1000, 1)}
            for cumulative, own, name in ordered
        ]

    return {
        "function": [
            {
                "function": logical_id,
                "modules": len(rows),
                "self_total_ms": round(sum(row[1] for row in rows) / 1000),
                "runs": runs,
            }
        ],
        "cumulative": listed(0),
        "self": listed(1),
    }


# What our code adds, measured inside one process (``own_code``): the function's libraries are loaded
# first, as the *libraries* baseline loads them, and its AWS clients created by ``payments_core.aws`` (so
# its one-time work finds them made); then the handler is imported and its one-time work run, timed on
# its own. The time between two ``perf_counter`` reads in one process carries none of a fresh
# interpreter's start-up and exit, whose run-to-run spread (several percent of a whole cold start here)
# is what makes *vs_libs* move by as much as the bar it is read against. Our model classes created in
# that span are timed (``MODELS_TIMER``; pydantic's one-time setup is paid by the baseline's model), and
# our modules it imports counted.
OWN_PROBE = """
import json, os, sys, time
{timer}
{libraries}
from payments_core import aws
for _service in {services!r}:
    aws.dynamodb_client() if _service == "dynamodb" else aws.client(_service)
_loaded = set(sys.modules)
_created.clear()
_start = time.perf_counter()
{body}
_spent = time.perf_counter() - _start
_ours = [m for m in set(sys.modules) - _loaded if m.startswith("payments_core") or m == {module!r}]
_models = [spent for module, spent in _created if module.startswith("payments_core")]
_answer = {{"own_s": _spent, "modules": len(_ours), "models_s": sum(_models), "models": len(_models)}}
print(json.dumps(_answer), flush=True)
os._exit(0)
"""
# The same span for a package of empty modules: what importing one module costs on this machine, however
# little it holds (finding it, reading its bytecode, creating the module), times the modules we import.
EMPTY_MODULES = 40
MODULES_PROBE = """
import json, os, sys, time
_start = time.perf_counter()
for _i in range({count}):
    __import__(f"bench_empty.m{{_i}}")
print(json.dumps({{"per_module_s": (time.perf_counter() - _start) / {count}}}), flush=True)
os._exit(0)
"""


def _json_probe(python: Path, code: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run([str(python), "-c", code], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def module_floor(python: Path, runs: int = 15) -> float:
    """Seconds to import one empty module from bytecode (the median of ``runs`` runs of ``EMPTY_MODULES``)."""
    python = python.absolute()
    with tempfile.TemporaryDirectory() as scratch:
        package = Path(scratch) / "bench_empty"
        package.mkdir()
        (package / "__init__.py").write_text("")
        for i in range(EMPTY_MODULES):
            (package / f"m{i}.py").write_text("from __future__ import annotations\n")
        subprocess.run([str(python), "-m", "compileall", "-q", str(package)], check=True)
        env = {**probe_env(), "PYTHONPATH": scratch}
        code = MODULES_PROBE.format(count=EMPTY_MODULES)
        return statistics.median(float(_json_probe(python, code, env, ROOT)["per_module_s"]) for _ in range(runs))


def own_code(python: Path, runs: int = 15) -> list[dict[str, object]]:
    """Per function: what our code adds to its libraries, in one process (``OWN_PROBE``), with the part
    that is our pydantic model classes and the part that importing that many modules costs at least; and
    the ratio to the libraries baseline that it makes (*libraries + ours*, over *libraries*)."""
    python = python.absolute()
    template = Template(ROOT / "template.yaml")
    layer = layer_dirs(python)[0] / "python"
    if not layer.exists():  # measure() builds it
        layer, _ = build_layers(python)
    per_module_s = module_floor(python, runs)
    rows: list[dict[str, object]] = []
    for logical_id, spec in sorted(template.functions().items()):
        services = services_of(template, logical_id)
        env = {**probe_env(), **spec.environment, "PYTHONPATH": f"{spec.code_dir}:{layer}"}
        ours_body = f"import {spec.module}\nfrom payments_core import snapstart\nsnapstart.warm_up()"
        libraries = libraries_of(python, ours_body, env, spec.code_dir)
        libraries_code = libraries_loaded(libraries)
        our_clients = OUR_CLIENTS.format(data=str(layer / "payments_core" / "aws_data"), services=services)
        libraries_body = "\n".join([libraries_code, our_clients])
        own_body = OWN_PROBE.format(
            timer=MODELS_TIMER, libraries=libraries_code, services=services, body=ours_body, module=spec.module
        )
        own: list[dict[str, Any]] = []
        with_libraries: list[float] = []
        for _ in range(runs):
            own.append(_json_probe(python, own_body, env, spec.code_dir))
            with_libraries.append(run(python, libraries_body, env, spec.code_dir).wall_s)
        own_s = statistics.median(sample["own_s"] for sample in own)
        models_s = statistics.median(sample["models_s"] for sample in own)
        libraries_s = statistics.median(with_libraries)
        modules = int(own[0]["modules"])
        rows.append(
            {
                "function": logical_id,
                "libs_ms": round(libraries_s * 1000),
                "ours_adds_ms": round(own_s * 1000, 1),
                "spread_ms": round((max(s["own_s"] for s in own) - min(s["own_s"] for s in own)) * 1000, 1),
                "models": int(own[0]["models"]),
                "models_ms": round(models_s * 1000, 1),
                "modules": modules,
                "modules_floor_ms": round(modules * per_module_s * 1000, 1),
                "rest_ms": round((own_s - models_s - modules * per_module_s) * 1000, 1),
                "vs_libs_in_process": round((libraries_s + own_s) / libraries_s, 3),
            }
        )
        print(f"our code {logical_id}: {rows[-1]}", flush=True)
    return rows
