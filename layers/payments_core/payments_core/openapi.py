"""The OpenAPI 3.1 document, generated from the code's own pydantic models and the handlers' routes.

Nothing here is a hand-kept copy of a schema: request and response schemas are the models the
handlers parse and return; the routes come from the handlers' resolvers (devstack.openapi collects
them) and a test checks they are exactly the routes of template.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from payments_core.auth.models import SigninRequest, SignupRequest, TokenOut, UserOut
from payments_core.ledger_out import TransactionPage
from payments_core.payments.capture_request import CaptureRequest
from payments_core.payments.create_request import CreatePaymentRequest
from payments_core.payments.otp_request import VerifyCodeRequest
from payments_core.payments.reference_models import CodeSentOut, PaymentOut, PaymentPage, RefundOut
from payments_core.payments.refund_request import RefundRequest


class HealthOut(BaseModel):
    status: str
    version: str


class WebhookAck(BaseModel):
    received: bool


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: str
    message: str
    request_id: str
    details: list[ErrorDetail] | None = None
    decline_code: str | None = None
    attempts_remaining: int | None = None
    amount_remaining: int | None = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class GatewayMessage(BaseModel):
    """API Gateway's own answers (no Authorization header, unknown route)."""

    message: str


@dataclass(frozen=True)
class RouteDoc:
    operation_id: str  # stable: generated clients name their methods after it
    tag: str
    summary: str
    ok: tuple[int, type[BaseModel]]
    errors: tuple[int, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    public: bool = False
    idempotent: bool = False
    query: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)


PAGE = ("limit", "cursor")
TAGS = {
    "auth": "Sign up and sign in for a bearer token",
    "payments": "Payments: create, read, list, capture a hold, cancel",
    "refunds": "Full and partial refunds of a payment",
    "otp": "One-time codes that confirm large payments",
    "transactions": "The ledger: one entry per money movement",
    "webhooks": "Stripe's signed events",
    "health": "Liveness",
}
ROUTES: dict[tuple[str, str], RouteDoc] = {
    ("GET", "/health"): RouteDoc("get_health", "health", "Liveness and version", (200, HealthOut), public=True),
    ("POST", "/auth/signup"): RouteDoc(
        "sign_up", "auth", "Create an account", (201, UserOut), (409, 422, 503), SignupRequest, public=True
    ),
    ("POST", "/auth/signin"): RouteDoc(
        "sign_in",
        "auth",
        "Exchange credentials for a token",
        (200, TokenOut),
        (401, 422, 429),
        SigninRequest,
        public=True,
    ),
    ("POST", "/payments"): RouteDoc(
        "create_payment",
        "payments",
        "Create a payment",
        (201, PaymentOut),
        (402, 409, 422, 429, 502, 503),
        CreatePaymentRequest,
        idempotent=True,
    ),
    ("GET", "/payments"): RouteDoc(
        "list_payments", "payments", "List your payments, newest first", (200, PaymentPage), (422, 503), query=PAGE
    ),
    ("GET", "/payments/{payment_id}"): RouteDoc(
        "get_payment", "payments", "A payment with its refunds", (200, PaymentOut), (404,)
    ),
    ("POST", "/payments/{payment_id}/capture"): RouteDoc(
        "capture_payment",
        "payments",
        "Capture a hold",
        (200, PaymentOut),
        (404, 409, 422, 502, 503),
        CaptureRequest,
        False,
        idempotent=True,
    ),
    ("POST", "/payments/{payment_id}/cancel"): RouteDoc(
        "cancel_payment",
        "payments",
        "Cancel a payment that moved no money",
        (200, PaymentOut),
        (404, 409, 422, 502, 503),
        idempotent=True,
    ),
    ("POST", "/payments/{payment_id}/refunds"): RouteDoc(
        "create_refund",
        "refunds",
        "Refund all or part",
        (201, RefundOut),
        (404, 409, 422, 502, 503),
        RefundRequest,
        False,
        idempotent=True,
    ),
    ("POST", "/payments/{payment_id}/otp"): RouteDoc(
        "send_otp", "otp", "Send a fresh code", (202, CodeSentOut), (404, 409, 429)
    ),
    ("POST", "/payments/{payment_id}/otp/verify"): RouteDoc(
        "verify_otp",
        "otp",
        "Confirm a payment with its code",
        (200, PaymentOut),
        (400, 402, 404, 409, 410, 422, 429, 502, 503),
        VerifyCodeRequest,
    ),
    ("POST", "/webhooks/stripe"): RouteDoc(
        "receive_stripe_event",
        "webhooks",
        # 500: a verified event that cannot be applied yet (payments/webhook.py), delivered again by Stripe
        "Stripe's signed events",
        (200, WebhookAck),
        (400, 500),
        public=True,
        headers={"Stripe-Signature": "string"},
    ),
    ("GET", "/transactions"): RouteDoc(
        "list_transactions", "transactions", "Your ledger, newest first", (200, TransactionPage), (422,), query=PAGE
    ),
}


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [GatewayMessage, ErrorEnvelope]
    for doc in ROUTES.values():
        models.append(doc.ok[1])
        if doc.body is not None:
            models.append(doc.body)
    unique = list(dict.fromkeys(models))
    _, schema = models_json_schema(
        [(model, "validation" if model is _body_model(model) else "serialization") for model in unique],
        ref_template="#/components/schemas/{model}",
    )
    return dict(schema.get("$defs", {}))


def _body_model(model: type[BaseModel]) -> type[BaseModel] | None:
    return model if any(doc.body is model for doc in ROUTES.values()) else None


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def operation(path: str, doc: RouteDoc) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for name in _path_names(path)
    ]
    if doc.idempotent:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
            }
        )
    if "limit" in doc.query:
        parameters.append({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}})
    if "cursor" in doc.query:
        parameters.append({"name": "cursor", "in": "query", "schema": {"type": "string"}})
    for name in doc.headers:
        parameters.append({"name": name, "in": "header", "required": False, "schema": {"type": "string"}})
    status, model = doc.ok
    responses: dict[str, Any] = {str(status): _json(_ref(model), doc.summary)}
    errors = set(doc.errors) | ({401} if not doc.public else set()) | ({409} if doc.idempotent else set())
    for code in sorted(errors):
        schema: dict[str, Any] = _ref(ErrorEnvelope)
        if code in (401, 404):  # API Gateway answers these itself too, with its own body
            schema = {"oneOf": [_ref(ErrorEnvelope), _ref(GatewayMessage)]}
        responses[str(code)] = _json(schema, "Error")
        if code == 429:
            responses[str(code)]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    body: dict[str, Any] | None = None
    if doc.body is not None:
        body = {"required": doc.body_required, "content": {"application/json": {"schema": _ref(doc.body)}}}
    elif path == "/webhooks/stripe":
        body = {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}
    result: dict[str, Any] = {
        "operationId": doc.operation_id,
        "tags": [doc.tag],
        "summary": doc.summary,
        "parameters": parameters,
        "responses": responses,
    }
    if body is not None:
        result["requestBody"] = body
    if doc.public:
        result["security"] = []
    return result


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]


def build_document(routes: list[tuple[str, str]], version: str) -> dict[str, Any]:
    """The OpenAPI document for ``routes`` (method, path); each must have its RouteDoc."""
    paths: dict[str, dict[str, Any]] = {}
    for method, path in sorted(routes, key=lambda r: (r[1], r[0])):
        paths.setdefault(path, {})[method.lower()] = operation(path, ROUTES[(method, path)])
    return {
        "openapi": "3.1.0",
        "info": {"title": "Payments API", "version": version},
        "tags": [{"name": name, "description": description} for name, description in TAGS.items()],
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearer": []}],
    }
