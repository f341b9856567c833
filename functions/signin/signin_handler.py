"""POST /auth/signin: exchanges email and password for a short-lived JWT."""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from payments_core.api import build_resolver, parse_body
from payments_core.auth import accounts
from payments_core.auth.models import SigninRequest
from payments_core.aws import get_secret
from payments_core.errors import DomainError
from payments_core.observability import logger, metrics, tracer
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(clients=("dynamodb",), secrets=True, imports=("payments_core.auth.tokens",))

app = build_resolver()


@app.post("/auth/signin")
def signin() -> Any:
    try:
        token = accounts.signin(parse_body(app, SigninRequest), jwt_key=get_secret("JWT_SECRET"))
    except DomainError as error:
        metrics.add_metric(name="SignInFailures", unit=MetricUnit.Count, value=1)
        logger.info("sign-in refused", extra={"error_code": error.code})
        raise
    metrics.add_metric(name="SignIns", unit=MetricUnit.Count, value=1)
    return token.model_dump()


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)


init_done()  # last: the init phase ends here (payments_core.init_phase)
