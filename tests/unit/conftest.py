"""Each function's handler imported once in a fresh interpreter, as Lambda's init phase does, reporting
everything the init-phase tests check (test_init_phase.py, test_functions.py): one interpreter per
function for the whole session instead of one per function and test."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from devstack.template import Template
from tests.conftest import ROOT, run_handler_probe

# What runs in the fresh interpreter, in this order: the handler's import with the collector watched
# (test_init_phase.py), collections once init is done, then the function's one-time work as the
# before-snapshot hook would run it (test_functions.py: the hooks, the clients prepared, the Stripe SDK
# before and after it, the prescribed libraries left loaded, and what none of them uses).
PROBE = """
import gc, json, sys
imports = []
sys.addaudithook(lambda event, args: imports.append(args[0]) if event == "import" else None)
collections = []
# paused once init_phase has run (not merely been found: compiling it may still collect)
paused = lambda: hasattr(sys.modules.get("payments_core.init_phase"), "init_done")
gc.callbacks.append(lambda phase, info: collections.append(paused()) if phase == "start" else None)
import {module}
during_init = collections.count(True)
at_init_end = len(collections)
before_pause = imports[: imports.index("payments_core.init_phase")]
gc.collect()  # a collection still runs, explicitly and (below) on its own
garbage = [[] for _ in range(50_000)]
for item in garbage:
    item.append(item)
del garbage, item
init_phase = {{
    "collections_during_init": during_init,
    "imported_before_the_pause": sorted({{name.split(".")[0] for name in before_pause}}),
    "enabled_after_init": gc.isenabled(),
    "frozen_objects": gc.get_freeze_count(),
    "automatic_collections_after_init": len(collections) - at_init_end - 1,
}}
import snapshot_restore_py  # imported after the handler: it must not count as imported before the pause
from payments_core import snapstart
before = set(sys.modules)
hooks = [entry for entry in snapshot_restore_py._before_snapshot_registry]
snapstart.warm_up()
declared = snapstart.declared()
from payments_core.lazy_imports import is_loaded
EVENT_HANDLER = "aws_lambda_powertools.event_handler."
OTHER_RESOLVERS = {{"appsync", "events_appsync", "bedrock_agent", "vpc_lattice"}}
print(json.dumps({{
    "init_phase": init_phase,
    "preparation": {{
        "hooks": len(hooks),
        "clients": sorted({{c for p in declared for c in p.clients}}),
        "secrets": any(p.secrets for p in declared),
        "stripe_before": "stripe" in before,
        "stripe_after": "stripe" in sys.modules,
    }},
    "libraries": sorted(name.rsplit(".", 1)[-1] for name in set(sys.modules) & {names!r}),
    "ours": sorted(name for name in sys.modules if name.startswith("payments_core.")),
    # what no function uses: requests (the Stripe SDK's default HTTP layer), asyncio, the Event
    # Handler's other resolvers (payments_core.lazy_imports)
    "unused_loaded": sorted(
        [name for name in ("requests", "asyncio") if is_loaded(name)]
        + [name for name in sys.modules if name.startswith(EVENT_HANDLER)
           and name[len(EVENT_HANDLER):].split(".")[0] in OTHER_RESOLVERS]
    ),
}}))
"""


class InitReports:
    """Each function's report by logical id; a function whose probe failed fails only its own tests."""

    def __init__(self, found: dict[str, dict[str, Any] | BaseException]) -> None:
        self._found = found

    def __getitem__(self, logical_id: str) -> dict[str, Any]:
        report = self._found[logical_id]
        if isinstance(report, BaseException):
            raise report
        return report


def probe(logical_id: str) -> dict[str, Any] | BaseException:
    from benchmarks.cold_start import LIBRARIES

    spec = Template(ROOT / "template.yaml").functions()[logical_id]
    try:
        report: dict[str, Any] = run_handler_probe(
            spec.code_dir, PROBE.format(module=spec.module, names=set(LIBRARIES))
        )
    except subprocess.CalledProcessError as error:  # reported by the tests of that function
        return AssertionError(f"{logical_id}'s handler failed in a fresh interpreter:\n{error.stderr}")
    return report


@pytest.fixture(scope="session")
def init_reports(request: pytest.FixtureRequest) -> InitReports:
    """Spawns, once each and a few at a time, the functions that the session's selected tests ask about."""
    wanted = sorted(
        {
            item.callspec.params["logical_id"]
            for item in request.session.items
            if "init_reports" in getattr(item, "fixturenames", ()) and hasattr(item, "callspec")
        }
    )
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return InitReports(dict(zip(wanted, pool.map(probe, wanted), strict=True)))
