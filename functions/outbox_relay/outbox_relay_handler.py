"""DynamoDB stream (outbox items only, by filter) -> EventBridge bus ``payments``."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from payments_core.aws import client
from payments_core.config import get_settings
from payments_core.observability import logger, tracer
from payments_core.relay import relay
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("events",))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    return relay(event.get("Records", []), client("events"), get_settings().event_bus_name)


init_done()  # last: the init phase ends here (payments_core.init_phase)
