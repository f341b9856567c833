"""NotificationsQueue -> a receipt email per succeeded, failed or refunded payment, once per movement."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from payments_core.config import get_settings
from payments_core.events import movement_of
from payments_core.idempotency import once_per_event
from payments_core.notifications import send_receipt
from payments_core.observability import logger, tracer
from payments_core.queue_records import PaymentEventRecord
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb", "ses"))

processor = BatchProcessor(event_type=EventType.SQS, model=PaymentEventRecord)
_context: dict[str, LambdaContext] = {}


def record_handler(record: PaymentEventRecord) -> None:
    event = record.body
    settings = get_settings()
    result = once_per_event(
        movement_of(event.detail_type, event.detail) or event.detail.event_id,
        lambda: send_receipt(
            table_name=settings.table_name,
            sender=settings.email_sender,
            detail_type=event.detail_type,
            detail=event.detail,
        ),
        _context.get("current"),
    )
    logger.info("notification", extra={"event_id": event.detail.event_id, "sent": bool(result.get("sent"))})


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    _context["current"] = context
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
