"""GET /payments/{payment_id} and GET /payments: the caller's own payments only."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from payments_core.api import authenticated_user_id, build_resolver
from payments_core.errors import NOT_FOUND
from payments_core.listing import PageQuery, parse_query
from payments_core.observability import logger, metrics, tracer
from payments_core.payments.repository import payment_repository
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",))

app = build_resolver()


@app.get("/payments/<payment_id>")
def get_payment(payment_id: str) -> Any:
    # The repository alone: reading needs neither the Stripe SDK nor its key (this function has no
    # access to that secret in AWS).
    payment = payment_repository().get(authenticated_user_id(app), payment_id)
    if payment is None:
        raise NOT_FOUND
    return payment.public()


@app.get("/payments")
def list_payments() -> Any:
    user_id = authenticated_user_id(app)
    query = parse_query(app, PageQuery)
    items, cursor = payment_repository().list(user_id, query.limit, query.cursor)
    return {"items": [payment.public() for payment in items], "next_cursor": cursor}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
