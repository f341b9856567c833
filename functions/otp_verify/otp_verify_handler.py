"""POST /payments/{payment_id}/otp/verify: a right code confirms the payment with the provider."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from payments_core.api import authenticated_user_id, build_resolver, outcome_response, parse_body, request_id
from payments_core.errors import NOT_FOUND
from payments_core.observability import logger, metrics, tracer
from payments_core.payment_outcomes import payment_outcome
from payments_core.payments.otp_request import VerifyCodeRequest
from payments_core.payments.otp_wiring import OTP_MODULES
from payments_core.payments.providers.stripe.sdk import load_stripe_sdk
from payments_core.payments.repository import payment_repository
from payments_core.payments.wiring import payment_service
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",), secrets=True, imports=OTP_MODULES, steps=(load_stripe_sdk,))

app = build_resolver()


@app.post("/payments/<payment_id>/otp/verify")
def verify_code(payment_id: str) -> Any:
    payment = payment_repository().get(authenticated_user_id(app), payment_id)
    if payment is None:
        raise NOT_FOUND
    request = parse_body(app, VerifyCodeRequest)
    confirmed = payment_service().verify_code(payment, request.code)
    return outcome_response(payment_outcome(confirmed, 200, request_id(app)), replayed=False)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
