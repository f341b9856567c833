"""POST /webhooks/stripe: signed Stripe events, verified on the raw body before anything else."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from payments_core import clock
from payments_core.api import build_resolver, raw_body
from payments_core.aws import get_secret
from payments_core.observability import logger, metrics, tracer
from payments_core.payments.providers.stripe.sdk import load_stripe_sdk
from payments_core.payments.providers.stripe.webhook import INVALID_SIGNATURE, verified_notice
from payments_core.payments.wiring import WEBHOOK_MODULES, webhook_processor
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",), secrets=True, imports=WEBHOOK_MODULES, steps=(load_stripe_sdk,))

app = build_resolver()


@app.post("/webhooks/stripe")
def stripe_webhook() -> Any:
    raw = raw_body(app)
    if raw is None:
        raise INVALID_SIGNATURE  # Stripe signs UTF-8 JSON; anything else cannot be one of its events
    signature = app.current_event.get_header_value("stripe-signature", case_sensitive=False)
    # Several comma-separated secrets are accepted while an endpoint secret is being rotated.
    secrets = [value.strip() for value in get_secret("STRIPE_WEBHOOK_SECRETS").split(",") if value.strip()]
    notice = verified_notice(raw, signature, secrets)
    result = webhook_processor("stripe").process(notice)
    # lag_seconds: how long after Stripe created the event it was processed (the dashboard's webhook lag).
    lag = clock.epoch_seconds() - notice.created if notice.created is not None else None
    logger.info(
        "webhook event",
        extra={
            "event_id": notice.event_id,
            "event_type": notice.event_type,
            "intent_id": notice.intent_id,
            "result": result,
            "lag_seconds": lag,
        },
    )
    return {"received": True}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
