"""Properties every function shares: its sample event runs, and it imports only what it needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devstack.sample_events import event_file_name
from devstack.template import Template
from tests.conftest import ROOT

TEMPLATE = Template(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.functions()
AUTH_FUNCTIONS = ["SignupFunction", "SigninFunction", "AuthorizerFunction", "HealthFunction"]


def test_every_function_has_a_ready_event() -> None:
    missing = [lid for lid in FUNCTIONS if not (ROOT / "events" / event_file_name(lid)).exists()]
    assert missing == []


@pytest.mark.parametrize("logical_id", AUTH_FUNCTIONS)
def test_auth_and_health_functions_never_import_stripe(logical_id: str) -> None:
    spec = FUNCTIONS[logical_id]
    code = f"import sys, {spec.module}; print('stripe' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=spec.code_dir,
        env={"PYTHONPATH": str(ROOT / "layers" / "payments_core"), "POWERTOOLS_TRACE_DISABLED": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_handler_modules_have_unique_names() -> None:
    modules = [spec.module for spec in FUNCTIONS.values()]
    assert len(modules) == len(set(modules))
    assert all(Path(spec.code_dir / f"{spec.module}.py").exists() for spec in FUNCTIONS.values())


@pytest.mark.usefixtures("aws")
def test_health_answers_ok_with_the_version(invoke) -> None:  # type: ignore[no-untyped-def]
    import health_handler

    status, _, body = invoke(health_handler, "GET", "/health")
    assert status == 200
    assert body == {"status": "ok", "version": "dev"}


@pytest.mark.usefixtures("aws")
def test_unknown_route_is_a_404_in_the_envelope(invoke) -> None:  # type: ignore[no-untyped-def]
    import health_handler

    status, _, body = invoke(health_handler, "GET", "/nope")
    assert status == 404
    assert body["error"]["code"] == "not_found"
