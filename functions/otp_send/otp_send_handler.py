"""POST /payments/{payment_id}/otp: emails a fresh one-time code (the previous one stops working)."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from payments_core import clock
from payments_core.api import authenticated_user_id, build_resolver, json_response
from payments_core.errors import NOT_FOUND
from payments_core.observability import logger, metrics, tracer
from payments_core.payments.otp_wiring import OTP_MODULES, otp_service
from payments_core.payments.repository import payment_repository
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb", "ses"), secrets=True, imports=OTP_MODULES)

app = build_resolver()


@app.post("/payments/<payment_id>/otp")
def send_code(payment_id: str) -> Any:
    payment = payment_repository().get(authenticated_user_id(app), payment_id)
    if payment is None:
        raise NOT_FOUND
    expires_at = otp_service().send(payment)
    return json_response(202, {"expires_at": clock.iso(clock.from_epoch(expires_at))})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
