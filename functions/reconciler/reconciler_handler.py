"""Scheduled: one reconciler pass over the open payments that are due (payments_core.reconciler).
An event ``{"min_age_seconds": 0}`` (an operator's `aws lambda invoke` after an outage, or a test)
looks at open items without waiting RECONCILE_MIN_AGE_SECONDS; ``{"all_open": true}`` also looks at
those not due yet (holds before their 7 days), without cutting any one-time code's life short."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from payments_core.config import get_settings
from payments_core.observability import logger, metrics, tracer
from payments_core.payments.otp_repository import OtpCodeStore
from payments_core.payments.provider import PROVIDER_RECORDS
from payments_core.payments.providers.stripe.sdk import load_stripe_sdk
from payments_core.payments.repository import payment_repository
from payments_core.payments.wiring import providers
from payments_core.reconciler import Reconciler
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",), secrets=True, imports=PROVIDER_RECORDS, steps=(load_stripe_sdk,))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    asked = event.get("min_age_seconds")
    if not isinstance(asked, int) or isinstance(asked, bool) or asked < 0:
        asked = get_settings().reconcile_min_age_seconds
    look_ahead = 366 * 24 * 3600 if event.get("all_open") is True else 0
    reconciler = Reconciler(
        payment_repository(),
        providers(),
        OtpCodeStore(get_settings().table_name),
        min_age_seconds=asked,
        look_ahead_seconds=look_ahead,
    )
    # Stop taking new payments with a minute left: one payment's provider calls and writes fit in it.
    summary = reconciler.run(context.get_remaining_time_in_millis, reserve_ms=60_000)
    return {
        "outcomes": summary.outcomes,
        "deferred_unapplied": summary.deferred_unapplied,
        "out_of_time": summary.out_of_time,
    }


init_done()  # last: the init phase ends here (payments_core.init_phase)
