"""Properties every function shares: its sample event runs, and it imports only what it needs."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from devstack.sample_events import event_file_name
from devstack.template import Template
from tests.conftest import ROOT
from tests.unit.conftest import InitReports

TEMPLATE = Template(ROOT / "template.yaml")
FUNCTIONS = TEMPLATE.functions()


def test_every_function_has_a_ready_event() -> None:
    missing = [lid for lid in FUNCTIONS if not (ROOT / "events" / event_file_name(lid)).exists()]
    assert missing == []


# The prescribed libraries each function's init and one-time work leave loaded (named as in the
# cold-start benchmark). Each costs cold start, so a function loads only what it uses: the authorizer
# the relay and the health check no pydantic, the consumers no Event Handler, no API function Idempotency (the payment
# or refund an operation makes or changes is its key's record), the readers no Parser,
# only the six functions that call Stripe its SDK, none Powertools Parameters (secrets are read with the
# SSM client: payments_core.aws.get_secret).
HTTP = {"event_handler", "logging", "metrics", "pydantic"}
STRIPE_WRITER = HTTP | {"stripe"}
CONSUMER = {"batch", "logging", "metrics", "parser", "pydantic"}
LOADED_LIBRARIES = {
    "AuthorizerFunction": {"jwt", "logging", "metrics"},
    "CancelPaymentFunction": STRIPE_WRITER,
    "CapturePaymentFunction": STRIPE_WRITER,
    "CreatePaymentFunction": STRIPE_WRITER,
    "GetPaymentsFunction": HTTP,
    # No model: the API edge names pydantic for types only (payments_core.api).
    "HealthFunction": HTTP - {"pydantic"},
    "LedgerConsumerFunction": CONSUMER,
    "ListTransactionsFunction": HTTP,
    "NotificationsConsumerFunction": CONSUMER | {"idempotency"},
    # Codes are not Idempotency-Key operations: neither OTP function loads Powertools Idempotency.
    "OtpSendFunction": HTTP,
    "OtpVerifyFunction": STRIPE_WRITER,
    # It renders each event from the payment document a write stored as plain dicts (public_view).
    "OutboxRelayFunction": {"logging", "metrics"},
    "RefundPaymentFunction": STRIPE_WRITER,
    "SigninFunction": HTTP | {"argon2", "jwt"},
    "SignupFunction": HTTP | {"argon2"},
    # Reads Stripe, creates nothing there: no idempotency layer.
    "StripeWebhookFunction": HTTP | {"stripe"},
    # Scheduled, nobody waits on them: the payment service's lease and transitions come with its imports.
    "ReconcilerFunction": {"logging", "metrics", "pydantic", "stripe"},
    "DailyReportFunction": {"logging", "metrics", "pydantic", "stripe"},
}


def test_every_function_has_its_libraries_listed() -> None:
    assert set(LOADED_LIBRARIES) == set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(LOADED_LIBRARIES))
def test_a_function_loads_only_the_libraries_it_uses(logical_id: str, init_reports: InitReports) -> None:
    # Given the function's handler imported in a fresh interpreter and its one-time work done (conftest)
    loaded = init_reports[logical_id]["libraries"]

    # Then exactly the prescribed libraries it uses are loaded
    assert set(loaded) == LOADED_LIBRARIES[logical_id]


# Parts of our own package that only some functions use, and those functions: one-time codes (with
# their emails) where a code is sent or checked, the webhook's processor in the webhook, and each
# operation's request model where that operation is. The others never load them (payments.wiring).
OUR_PARTS = {
    "payments_core.payments.otp": {"CreatePaymentFunction", "OtpSendFunction", "OtpVerifyFunction"},
    "payments_core.mailer": {
        "CreatePaymentFunction", "OtpSendFunction", "OtpVerifyFunction", "NotificationsConsumerFunction"
    },
    "payments_core.notifications": {"NotificationsConsumerFunction"},  # receipts: a code's email is no receipt
    # The provider's answers: only where a provider is called (OTP send reads a payment and mails a code,
    # nothing more: payments.otp_wiring)
    "payments_core.payments.provider": {
        "CreatePaymentFunction", "CapturePaymentFunction", "CancelPaymentFunction", "RefundPaymentFunction",
        "OtpVerifyFunction", "StripeWebhookFunction", "ReconcilerFunction", "DailyReportFunction",
    },
    # ... and its refunds and disputes only where one is read (payments.provider.PROVIDER_RECORDS)
    "payments_core.payments.provider_records": {
        "RefundPaymentFunction", "StripeWebhookFunction", "ReconcilerFunction", "DailyReportFunction",
    },
    # ... and its charges only where they are read (the daily report)
    "payments_core.payments.provider_charges": {"DailyReportFunction"},
    "payments_core.payments.webhook": {"StripeWebhookFunction"},
    "payments_core.payments.capture_request": {"CapturePaymentFunction"},
    "payments_core.payments.refund_request": {"RefundPaymentFunction"},
    "payments_core.payments.request_types": {
        "CreatePaymentFunction", "CapturePaymentFunction", "RefundPaymentFunction"
    },
    "payments_core.payments.create_request": {"CreatePaymentFunction"},
    "payments_core.payments.otp_request": {"OtpVerifyFunction"},
    "payments_core.payments.reference_models": set(),  # the API reference's models: no function creates them
    "payments_core.listing": {"GetPaymentsFunction", "ListTransactionsFunction"},
    "payments_core.ledger_out": set(),  # the API reference's model: no function creates it
}  # fmt: skip


@pytest.mark.parametrize("logical_id", sorted(LOADED_LIBRARIES))
def test_a_function_loads_only_the_parts_of_ours_it_uses(logical_id: str, init_reports: InitReports) -> None:
    # Given the function's handler imported in a fresh interpreter and its one-time work done (conftest)
    ours = set(init_reports[logical_id]["ours"])

    # Then each part that only some functions use is loaded exactly where it is used
    assert {part for part, users in OUR_PARTS.items() if part in ours} == {
        part for part, users in OUR_PARTS.items() if logical_id in users
    }


@pytest.mark.parametrize("logical_id", sorted(LOADED_LIBRARIES))
def test_a_function_loads_nothing_that_no_function_uses(logical_id: str, init_reports: InitReports) -> None:
    # Given the function's handler imported in a fresh interpreter and its one-time work done (conftest)
    # Then neither requests (the Stripe SDK's default HTTP layer: ours is on urllib3) nor asyncio (imported
    # by the SDK, Powertools' batch and AppSync modules for async code paths: deferred) has run, nor
    # any Event Handler resolver but the HTTP API's (payments_core.event_handler)
    assert init_reports[logical_id]["unused_loaded"] == []


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


def run_on_own_environment(logical_id: str, event: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Runs a function as in AWS: only the variables its template entry gives it, its secrets read
    from SSM by the names the template passes."""
    import boto3

    from devstack.lambda_events import LocalLambdaContext
    from payments_core.payments import otp_wiring, repository, wiring
    from tests.conftest import clear_caches

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
    repository.payment_repository.cache_clear()
    for built in (wiring.payment_service, otp_wiring.otp_service, wiring.providers, wiring.webhook_processor):
        built.cache_clear()
    module = importlib.import_module(spec.module)
    result: dict[str, Any] = module.lambda_handler(event, LocalLambdaContext(function_name=logical_id))
    return result


@pytest.mark.parametrize(
    "logical_id",
    [
        "AuthorizerFunction",
        "SignupFunction",
        "SigninFunction",
        "HealthFunction",
        "GetPaymentsFunction",
        "ListTransactionsFunction",
        "OtpSendFunction",
        # Their sample events name a payment this account does not hold: a 404, with no Stripe call, but
        # the payment service is built (it once read the OTP pepper, which they are not granted: a 500)
        "CapturePaymentFunction",
        "CancelPaymentFunction",
        "RefundPaymentFunction",
    ],
)
@pytest.mark.usefixtures("aws")
def test_function_runs_on_its_own_template_environment(logical_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack runs every function in one process with the union of their environments, so a
    function reading a secret it is not granted (GET /payments/{id} once built the Stripe client and
    so read the Stripe key) passes there and fails in AWS. Here it fails."""
    # Given its sample event
    event = json.loads((ROOT / "events" / event_file_name(logical_id)).read_text())

    # When it runs on its own environment
    result = run_on_own_environment(logical_id, event, monkeypatch)

    # Then it answers without a server error
    assert int(result.get("statusCode", 200)) < 500, result


@pytest.mark.usefixtures("aws")
def test_sending_a_code_needs_no_stripe_key(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from payments_core.aws import dynamodb_client
    from payments_core.dynamo import to_item
    from payments_core.payments.create_request import CreatePaymentRequest
    from payments_core.payments.providers.stripe.gateway import StripeGateway
    from payments_core.payments.repository import PaymentRepository
    from tests.domain import build_payments, create

    # Given a large payment waiting for its code (no provider call happens before the code)
    boto3.client("ses").verify_domain_identity(Domain="payments.example.com")
    dynamodb_client().put_item(
        TableName="AppTable",
        Item=to_item({"PK": "USER#usr_sample", "SK": "PROFILE", "user_id": "usr_sample", "email": "s@example.com"}),
    )
    service = build_payments(
        PaymentRepository("AppTable"), StripeGateway("sk_test_unused", "http://127.0.0.1:9"), 50_000
    )
    request = CreatePaymentRequest(amount=60_000, currency="usd", payment_method="pm_card_visa")
    payment_id = create(service, "usr_sample", request, "k-otp-env", "req")["body"]["payment_id"]
    event = json.loads((ROOT / "events" / event_file_name("OtpSendFunction")).read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"/payments/{payment_id}/otp"
    event["pathParameters"] = {"payment_id": payment_id}

    # When OtpSendFunction, which is granted the OTP pepper but not the Stripe key, sends a new code
    result = run_on_own_environment("OtpSendFunction", event, monkeypatch)

    # Then the code is sent
    assert result["statusCode"] == 202, result


# The role may name a service the code never calls: Lambda itself sends to the relay's on-failure queue.
CALLED_BY_LAMBDA_NOT_CODE = {"OutboxRelayFunction": {"sqs"}}
STRIPE_FUNCTIONS = {
    "CreatePaymentFunction",
    "CapturePaymentFunction",
    "CancelPaymentFunction",
    "RefundPaymentFunction",
    "OtpVerifyFunction",
    "StripeWebhookFunction",
    "ReconcilerFunction",
    "DailyReportFunction",
}


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_one_time_work_is_declared_for_the_snapshot_and_matches_the_role(
    logical_id: str, init_reports: InitReports
) -> None:
    from benchmarks.cold_start import services_of

    # Given the function's handler imported in a fresh interpreter, as Lambda's init phase does (conftest)
    found = init_reports[logical_id]["preparation"]

    # Then its one-time work is a before-snapshot hook (Health has none: it calls nothing)
    assert found["hooks"] == (0 if logical_id == "HealthFunction" else 1)
    # And it prepares exactly the clients its IAM role allows (SSM = its secrets)
    prepared = set(found["clients"]) | ({"ssm"} if found["secrets"] else set())
    assert prepared == set(services_of(TEMPLATE, logical_id)) - CALLED_BY_LAMBDA_NOT_CODE.get(logical_id, set())
    # And the Stripe SDK is loaded by the warm-up of the functions that call Stripe, never at import
    assert found["stripe_before"] is False
    assert found["stripe_after"] is (logical_id in STRIPE_FUNCTIONS)
