"""GET /health: liveness and the deployed version; touches nothing else."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths

from payments_core.api import build_resolver
from payments_core.config import get_settings
from payments_core.observability import logger, metrics, tracer

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

app = build_resolver()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok", "version": get_settings().app_version}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
