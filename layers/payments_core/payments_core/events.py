"""The bus event as consumers receive it: an EventBridge event inside an SQS message body."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsRecordModel
from pydantic import BaseModel, Json


class PaymentEventDetail(BaseModel):
    event_id: str
    event_version: int
    occurred_at: str
    user_id: str
    payment: dict[str, Any]
    refund: dict[str, Any] | None = None


class PaymentBusEvent(EventBridgeModel):
    detail: PaymentEventDetail
    account: str = ""  # always set on AWS; moto's EventBridge -> SQS delivery leaves it out


class PaymentEventRecord(SqsRecordModel):
    body: Json[PaymentBusEvent]
