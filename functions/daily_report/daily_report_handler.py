"""Scheduled daily: the reconciliation report of the previous UTC day, to S3 (JSON and CSV) and the
metric ReconciliationMismatches (payments_core.reconciliation_report). ``{"day": "YYYY-MM-DD"}`` in
the event reports that day instead (a rerun)."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from payments_core.config import get_settings
from payments_core.ledger_repository import LedgerRepository
from payments_core.observability import logger, metrics, tracer
from payments_core.payments.providers.stripe.gateway import StripeGateway
from payments_core.payments.providers.stripe.sdk import load_stripe_sdk
from payments_core.payments.repository import payment_repository
from payments_core.payments.wiring import providers
from payments_core.reconciliation_report import DailyReport, day_bounds, write_report
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The provider's charges, which only this function reads (built on first use without SnapStart).
prepare(
    clients=("dynamodb", "s3"),
    secrets=True,
    imports=("payments_core.payments.provider_charges",),
    steps=(load_stripe_sdk,),
)


def report_day(event: dict[str, Any]) -> date:
    """The day asked for, else the UTC day before the schedule's time (EventBridge's ``time``)."""
    if isinstance(event.get("day"), str):
        return date.fromisoformat(event["day"])
    fired = (
        datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")) if event.get("time") else datetime.now(UTC)
    )
    return fired.astimezone(UTC).date() - timedelta(days=1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    day = report_day(event)
    gateway = providers()["stripe"]  # the report reads one provider's day (ReportingGateway)
    assert isinstance(gateway, StripeGateway)
    ledger = LedgerRepository(get_settings().table_name)
    report = DailyReport(payment_repository(), ledger, gateway).build(*day_bounds(day))
    keys = write_report(report, get_settings().report_bucket)
    mismatches = len(report["mismatches"])
    metrics.add_metric(name="ReconciliationMismatches", unit="Count", value=mismatches)
    if mismatches:
        logger.error("reconciliation mismatches", extra={"day": day.isoformat(), "mismatches": report["mismatches"]})
    logger.info("reconciliation report", extra={"day": day.isoformat(), "keys": keys, "mismatches": mismatches})
    return {"day": day.isoformat(), "keys": keys, "mismatches": mismatches}


init_done()  # last: the init phase ends here (payments_core.init_phase)
