"""The bus event as the queue consumers receive it: an EventBridge event inside an SQS message body
(Powertools Parser models). Apart from ``payments_core.events`` so that code reading or writing the
ledger outside a consumer (``GET /transactions``) does not load Parser's models.
"""

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsRecordModel
from pydantic import Json

from payments_core.events import PaymentEventDetail


class PaymentBusEvent(EventBridgeModel):
    detail: PaymentEventDetail
    account: str = ""  # always set on AWS; moto's EventBridge -> SQS delivery leaves it out


class PaymentEventRecord(SqsRecordModel):
    body: Json[PaymentBusEvent]
