"""POST /payments/{payment_id}/capture: captures a hold (all of it, or less)."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from payments_core.api import authenticated_user_id, build_resolver, outcome_response, parse_body, request_id
from payments_core.idempotency_keys import validated_key
from payments_core.observability import logger, metrics, tracer
from payments_core.payment_outcomes import patiently, payment_outcome
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.leases import KEY_IN_PROGRESS
from payments_core.payments.providers.stripe.sdk import load_stripe_sdk
from payments_core.payments.wiring import payment_service
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",), secrets=True, steps=(load_stripe_sdk,))

app = build_resolver()


@app.post("/payments/<payment_id>/capture")
def capture_payment(payment_id: str) -> Any:
    user_id = authenticated_user_id(app)
    key = validated_key(app.current_event.headers)
    request = parse_body(app, CaptureRequest, optional=True)
    # The payment is the capture's idempotency record (PaymentService.capture_once): a retry with the key
    # answers it as it is now; one meeting its key's earlier request still running waits for it, briefly.
    payment, replayed = patiently(
        lambda: payment_service().capture_once(user_id, payment_id, request, key),
        app.lambda_context,
        waits_for=KEY_IN_PROGRESS,
    )
    return outcome_response(payment_outcome(payment, 200, request_id(app)), replayed)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
