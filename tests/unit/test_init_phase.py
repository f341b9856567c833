"""Every handler's init phase runs with the garbage collector paused, and ends with it running."""

from __future__ import annotations

import pytest

from devstack.template import Template
from tests.conftest import ROOT
from tests.unit.conftest import InitReports

FUNCTIONS = Template(ROOT / "template.yaml").functions()


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_the_init_phase_pauses_the_collector_and_resumes_it(logical_id: str, init_reports: InitReports) -> None:
    # Given a function's handler imported in a fresh interpreter, as Lambda's init phase does (conftest)
    spec = FUNCTIONS[logical_id]
    result = init_reports[logical_id]["init_phase"]

    # Then the collector is paused before any library is imported, and none runs while they are
    # (``__future__``: the handler's ``from __future__ import annotations`` statement, a module of constants)
    assert set(result["imported_before_the_pause"]) <= {spec.module, "payments_core", "__future__"}
    assert result["collections_during_init"] == 0
    # And what init built is frozen out of later collections, which run again on their own
    assert result["frozen_objects"] > 10_000
    assert result["enabled_after_init"] is True
    assert result["automatic_collections_after_init"] > 0
