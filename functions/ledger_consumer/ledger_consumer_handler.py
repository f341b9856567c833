"""LedgerQueue -> one ledger entry per money movement (charge, refund), with partial batch failures."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

from payments_core.config import get_settings
from payments_core.ledger import Ledger
from payments_core.observability import logger, tracer
from payments_core.queue_records import PaymentEventRecord
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",))

processor = BatchProcessor(event_type=EventType.SQS, model=PaymentEventRecord)


def record_handler(record: PaymentEventRecord) -> None:
    event = record.body
    written = Ledger.on_table(get_settings().table_name).record(event.detail_type, event.detail)
    logger.info(
        "ledger event",
        extra={"event_id": event.detail.event_id, "detail_type": event.detail_type, "written": written},
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
