"""Properties every function shares: its sample event runs, and it imports only what it needs."""

from __future__ import annotations

import importlib
import json
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


SECRET_NAMES = ("JWT_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRETS", "OTP_PEPPER")


@pytest.mark.parametrize(
    "logical_id",
    [
        "AuthorizerFunction",
        "SignupFunction",
        "SigninFunction",
        "HealthFunction",
        "GetPaymentsFunction",
        "ListTransactionsFunction",
    ],
)
@pytest.mark.usefixtures("aws")
def test_function_runs_on_its_own_template_environment(logical_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in AWS: only the variables its template entry gives it, secrets read from SSM by name.

    The local stack runs every function in one process with the union of their environments, so a
    function reading a secret it is not granted (GET /payments/{id} once built the Stripe client and
    so read the Stripe key) would pass there and fail in AWS. Here it fails."""
    import boto3

    from devstack.lambda_events import LocalLambdaContext
    from payments_core.payments import wiring
    from tests.conftest import clear_caches

    # Given the function's environment and nothing else, and its secrets only in SSM
    spec = FUNCTIONS[logical_id]
    for name in SECRET_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"{name}_PARAM", raising=False)
    ssm = boto3.client("ssm")
    for key, value in spec.environment.items():
        monkeypatch.setenv(key, value)
        if key.endswith("_PARAM"):
            ssm.put_parameter(Name=value, Value="ssm-secret-value-" + key.lower(), Type="SecureString")
    clear_caches()
    wiring.payment_repository.cache_clear()
    wiring.payment_service.cache_clear()
    module = importlib.import_module(spec.module)
    event = json.loads((ROOT / "events" / event_file_name(logical_id)).read_text())

    # When its sample event arrives
    result = module.lambda_handler(event, LocalLambdaContext(function_name=logical_id))

    # Then it answers without a server error
    assert int(result.get("statusCode", 200)) < 500, result
