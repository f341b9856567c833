"""Lambda REQUEST authorizer (payload 2.0, simple responses): validates the bearer JWT.

It never answers "deny": HTTP APIs render a denial as ``403 {"message": "Forbidden"}``, which the
contract does not allow. A request with a bad token is let through as anonymous and the handler
answers ``401 unauthorized`` in the contract's envelope (``payments_core.api.authenticated_user_id``,
which every protected route needs anyway to know whose data it touches).

API Gateway caches a verdict per token for ``ReauthorizeEvery`` (60 s, template.yaml), so a token
could outlive its ``exp`` by up to that long; the verdict therefore carries ``expires_at`` and the
handler refuses it once that has passed (``authenticated_user_id``).
"""

from __future__ import annotations

from payments_core.init_phase import init_done  # first: pauses the GC for the init phase

from typing import TYPE_CHECKING, Any

from payments_core.auth import tokens
from payments_core.aws import get_secret
from payments_core.config import get_settings
from payments_core.observability import logger, tracer
from payments_core.snapstart import prepare

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

prepare(secrets=True)  # tokens (PyJWT) is imported above already

ANONYMOUS: dict[str, Any] = {"isAuthorized": True, "context": {"user_id": ""}}
# Signed by us but past its exp (PyJWT checks the signature first): the handler can say "expired".
EXPIRED: dict[str, Any] = {"isAuthorized": True, "context": {"user_id": "", "token": "expired"}}


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    headers = {key.lower(): value for key, value in (event.get("headers") or {}).items()}
    scheme, _, token = str(headers.get("authorization", "")).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ANONYMOUS
    try:
        verified = tokens.verify_token(token.strip(), key=get_secret("JWT_SECRET"), settings=get_settings())
    except tokens.InvalidToken as error:
        logger.info("token rejected", extra={"reason": str(error)})
        return EXPIRED if str(error) == "ExpiredSignatureError" else ANONYMOUS
    return {"isAuthorized": True, "context": {"user_id": verified.user_id, "expires_at": verified.expires_at}}


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:  # noqa: ARG001
    return authorize(event)


init_done()  # last: the init phase ends here (payments_core.init_phase)
