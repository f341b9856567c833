"""POST /payments/{payment_id}/refunds: a full or partial refund, never past the captured amount."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from payments_core.api import authenticated_user_id, build_resolver, outcome_response, parse_body
from payments_core.idempotency_keys import validated_key
from payments_core.observability import logger, metrics, tracer
from payments_core.payment_outcomes import patiently, refund_outcome
from payments_core.payments.leases import KEY_IN_PROGRESS
from payments_core.payments.provider import PROVIDER_RECORDS
from payments_core.payments.providers.stripe.sdk import load_stripe_sdk
from payments_core.payments.refund_request import RefundRequest
from payments_core.payments.wiring import payment_service
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",), secrets=True, imports=PROVIDER_RECORDS, steps=(load_stripe_sdk,))

app = build_resolver()


@app.post("/payments/<payment_id>/refunds")
def refund_payment(payment_id: str) -> Any:
    user_id = authenticated_user_id(app)
    key = validated_key(app.current_event.headers)
    request = parse_body(app, RefundRequest, optional=True)
    # The refund is its key's idempotency record (PaymentService.refund_once): a retry answers it as it
    # is now; one meeting its key's earlier request still sending it waits for it, briefly.
    refund, replayed = patiently(
        lambda: payment_service().refund_once(user_id, payment_id, request, key),
        app.lambda_context,
        waits_for=KEY_IN_PROGRESS,
    )
    if not replayed:
        metrics.add_metric(name="RefundsCreated", unit=MetricUnit.Count, value=1)
    return outcome_response(refund_outcome(refund), replayed)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
