"""The cold-start bench's "what our code adds" probe (benchmarks.cold_start.own_code) charges to our code
exactly the modules of ours and the model classes of ours that a function's import and one-time work
bring, and none of what the libraries baseline had already loaded (``payments_core.lazy_imports``, with
which it loads them as our functions do; ``payments_core.aws``, which creates the clients). Counted here
the other way round, in a fresh interpreter with nothing measured: the modules a handler's import adds
to ``sys.modules``, and our ``BaseModel`` subclasses that exist after it and did not before."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks import cold_start
from devstack.template import Template
from tests.conftest import ROOT, run_handler_probe

COUNTED = """
import json, sys
from payments_core import aws, lazy_imports
import pydantic

def ours() -> set[str]:
    return {{m for m in sys.modules if m.startswith("payments_core") or m == {module!r}}}

def our_models() -> set[type]:
    found, stack = set(), [pydantic.BaseModel]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("payments_core"):
                found.add(sub)
    return found

modules, models = ours(), our_models()
import {module}
from payments_core import snapstart
snapstart.warm_up()
print(json.dumps({{"modules": len(ours() - modules), "models": len(our_models() - models)}}), flush=True)
"""


def own_probe(logical_id: str) -> dict[str, Any]:
    template = Template(ROOT / "template.yaml")
    spec = template.functions()[logical_id]
    code = cold_start.OWN_PROBE.format(
        timer=cold_start.MODELS_TIMER,
        libraries=cold_start.libraries_loaded(["pydantic", "aws_lambda_powertools.logging"]),
        services=cold_start.services_of(template, logical_id),
        body=f"import {spec.module}\nfrom payments_core import snapstart\nsnapstart.warm_up()",
        module=spec.module,
    )
    report: dict[str, Any] = run_handler_probe(spec.code_dir, code)
    return report


@pytest.mark.parametrize("logical_id", ["SigninFunction", "RefundPaymentFunction", "HealthFunction"])
def test_the_probe_charges_our_code_with_its_own_modules_and_models_only(logical_id: str) -> None:
    spec = Template(ROOT / "template.yaml").functions()[logical_id]
    expected = run_handler_probe(spec.code_dir, COUNTED.format(module=spec.module))
    report = own_probe(logical_id)
    assert (report["modules"], report["models"]) == (expected["modules"], expected["models"])
    assert report["modules"] > 0
    assert 0 < report["own_s"] < 5
    assert (report["models_s"] > 0) == (report["models"] > 0)
