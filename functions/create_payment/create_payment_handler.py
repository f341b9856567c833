"""POST /payments: a Stripe PaymentIntent, confirmed at once below the OTP threshold."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from payments_core.api import authenticated_user_id, build_resolver, outcome_response, parse_body, request_id
from payments_core.idempotency_keys import validated_key
from payments_core.observability import logger, metrics, tracer
from payments_core.payment_outcomes import patiently, payment_outcome
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.otp_wiring import OTP_MODULES
from payments_core.payments.providers.stripe.sdk import load_stripe_sdk
from payments_core.payments.wiring import payment_service
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb", "ses"), secrets=True, imports=OTP_MODULES, steps=(load_stripe_sdk,))

app = build_resolver()


@app.post("/payments")
def create_payment() -> Any:
    user_id = authenticated_user_id(app)
    key = validated_key(app.current_event.headers)
    request = parse_body(app, CreatePaymentRequest)
    # The payment's own conditional put is the key's record (PaymentService.create_once): no separate
    # idempotency record; a request that meets another still confirming it waits for it, briefly.
    payment, replayed = patiently(lambda: payment_service().create_once(user_id, request, key), app.lambda_context)
    outcome = payment_outcome(payment, 201, request_id(app))
    if not replayed:
        metrics.add_metric(name="PaymentsCreated", unit=MetricUnit.Count, value=1)
    logger.info("payment request", extra={"status": outcome["status"], "replayed": replayed})
    return outcome_response(outcome, replayed)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
