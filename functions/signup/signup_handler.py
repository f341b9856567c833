"""POST /auth/signup: creates an account (argon2id hash, unique email)."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from payments_core.api import build_resolver, json_response, parse_body
from payments_core.auth import accounts
from payments_core.auth.models import SignupRequest
from payments_core.observability import logger, metrics, tracer
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",))

app = build_resolver()


@app.post("/auth/signup")
def signup() -> Any:
    user = accounts.signup(parse_body(app, SignupRequest))
    metrics.add_metric(name="SignUps", unit=MetricUnit.Count, value=1)
    logger.info("account created", extra={"user_id": user.user_id})
    return json_response(201, user.model_dump())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
