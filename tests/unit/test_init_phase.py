"""Every handler's init phase runs with the garbage collector paused, and ends with it running."""

from __future__ import annotations

import pytest

from devstack.template import Template
from tests.conftest import ROOT, run_handler_probe

FUNCTIONS = Template(ROOT / "template.yaml").functions()

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
print(json.dumps({{
    "collections_during_init": during_init,
    "imported_before_the_pause": sorted({{name.split(".")[0] for name in before_pause}}),
    "enabled_after_init": gc.isenabled(),
    "frozen_objects": gc.get_freeze_count(),
    "automatic_collections_after_init": len(collections) - at_init_end - 1,
}}))
"""


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_the_init_phase_pauses_the_collector_and_resumes_it(logical_id: str) -> None:
    # Given a function's handler imported in a fresh interpreter, as Lambda's init phase does
    spec = FUNCTIONS[logical_id]
    result = run_handler_probe(spec.code_dir, PROBE.format(module=spec.module))

    # Then the collector is paused before any library is imported, and none runs while they are
    assert set(result["imported_before_the_pause"]) <= {spec.module, "payments_core"}
    assert result["collections_during_init"] == 0
    # And what init built is frozen out of later collections, which run again on their own
    assert result["frozen_objects"] > 10_000
    assert result["enabled_after_init"] is True
    assert result["automatic_collections_after_init"] > 0
