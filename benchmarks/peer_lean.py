"""The lean alternative a competent engineer would write without our architecture: one FastAPI + Mangum
function holding every route of the contract (docs/api.md), routes that work, doing the straightforward
work per request, and nothing more: boto3 clients (DynamoDB, SSM for secrets, SES, EventBridge), the
Stripe SDK, PyJWT, argon2, Powertools Logger and Metrics; no Tracer, no Idempotency utility, no Event
Handler. Its init (this module's import) builds the clients and the app; nothing is called at import.

Its own table (``PEER_TABLE_NAME``, key ``pk``/``sk``):
  ``USER#<email>`` / ``PROFILE``        a user (id, argon2 hash)
  ``USER#<user_id>`` / ``PAY#<id>``     a payment (newest first: ids sort by time)
  ``USER#<user_id>`` / ``OTP#<id>``     a live one-time code
  ``INTENT#<pi_...>`` / ``INTENT``      which payment a PaymentIntent belongs to (for the webhook)
  ``LEDGER#<user_id>`` / ``<time>#<id>`` a ledger entry (GET /transactions)

The EventBridge client is built but the routes publish nothing: ours publish nothing on the request
path either (the table's stream carries the events). It gives none of our reliability guarantees beyond
Stripe's idempotency keys and conditional writes (no idempotent replay of our answers, no leases, no
outbox, a webhook's event trusted as sent). It must not import our package.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import os
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import argon2
import boto3
import jwt
import stripe
from aws_lambda_powertools.logging import Logger, correlation_paths
from aws_lambda_powertools.metrics import Metrics, MetricUnit
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TABLE = os.environ.get("PEER_TABLE_NAME", "PeerTable")
EVENT_BUS = os.environ.get("EVENT_BUS_NAME", "payments")
SENDER = os.environ.get("EMAIL_SENDER", "no-reply@payments.example.com")
OTP_THRESHOLD = 50_000
TOKEN_TTL = 900
STRIPE_VERSION = "2026-10-28.endive"

logger = Logger(service="peer-lean")
metrics = Metrics(namespace="Payments", service="peer-lean")
dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")
ses = boto3.client("ses")
events = boto3.client("events")
hasher = argon2.PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)  # OWASP minimum, as ours
_serialize = TypeSerializer().serialize
_deserialize = TypeDeserializer().deserialize
app = FastAPI()
# The Stripe SDK loads its services on first use: loaded here, at init, as for our functions (the client
# with the real key is built at the first request, once its secret has been read).
_services = stripe.StripeClient("sk_unset", http_client=stripe.RequestsClient()).v1
_ = (_services.payment_intents, _services.refunds, stripe.Webhook)


@functools.cache
def secret(name: str) -> str:
    """A secret: the environment variable of its name locally, else the SSM parameter ``<name>_PARAM``
    (read once per container)."""
    value = os.environ.get(name)
    if value:
        return value
    answer = ssm.get_parameter(Name=os.environ[f"{name}_PARAM"], WithDecryption=True)
    return str(answer["Parameter"]["Value"])


@functools.cache
def stripe_client() -> stripe.StripeClient:
    base = os.environ.get("STRIPE_API_BASE")
    return stripe.StripeClient(
        secret("STRIPE_SECRET_KEY"),
        stripe_version=STRIPE_VERSION,
        base_addresses={"api": base} if base else None,
        http_client=stripe.RequestsClient(timeout=8),
    )


# --- models ---------------------------------------------------------------------------------------
Amount = Annotated[int, Field(ge=1, le=99_999_999)]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
IdempotencyKey = Annotated[str, Header(min_length=1, max_length=255)]
PaymentStatus = Literal[
    "requires_otp", "requires_action", "requires_capture", "processing", "succeeded", "failed", "canceled",
    "refunded", "partially_refunded",
]  # fmt: skip
RefundReason = Literal["duplicate", "fraudulent", "requested_by_customer"]


class SignupRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=12, max_length=128)


class SigninRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Email
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    user_id: str
    email: str
    created_at: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name
    expires_in: int


class CreatePaymentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount
    currency: Currency
    payment_method: Annotated[str, StringConstraints(pattern=r"^pm_[A-Za-z0-9_]{1,250}$")]
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    metadata: Annotated[dict[str, str], Field(max_length=20)] = Field(default_factory=dict)
    capture_method: Literal["automatic", "manual"] = "automatic"


class CaptureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount | None = None


class RefundRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount: Amount | None = None
    reason: RefundReason | None = None


class VerifyCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class RefundOut(BaseModel):
    refund_id: str
    payment_id: str
    amount: int
    currency: str
    status: Literal["pending", "succeeded", "failed"]
    reason: RefundReason | None
    failure_reason: str | None = None
    failed_after_success: bool = False
    created_at: str


class DisputeOut(BaseModel):
    dispute_id: str
    status: str
    amount: int
    currency: str
    reason: str | None
    amount_withdrawn: int
    amount_reinstated: int
    created_at: str


class PaymentOut(BaseModel):
    payment_id: str
    status: PaymentStatus
    amount: int
    currency: str
    amount_captured: int
    amount_refunded: int
    description: str | None
    metadata: dict[str, str]
    provider: str
    provider_payment_id: str | None
    next_action: dict[str, Any] | None
    client_secret: str | None
    refunds: list[RefundOut]
    dispute: DisputeOut | None = None
    created_at: str
    updated_at: str


class PaymentPage(BaseModel):
    items: list[PaymentOut]
    next_cursor: str | None


class CodeSentOut(BaseModel):
    expires_at: str


class TransactionOut(BaseModel):
    transaction_id: str
    payment_id: str
    type: Literal["charge", "refund", "refund_failure", "dispute", "dispute_reversal"]
    amount: int
    currency: str
    created_at: str


class TransactionPage(BaseModel):
    items: list[TransactionOut]
    next_cursor: str | None


Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=2048)]


# --- errors, in the contract's envelope ------------------------------------------------------------
class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        self.status, self.code, self.message = status, code, message


def _envelope(request: Request, status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    context = request.scope.get("aws.context")
    request_id = getattr(context, "aws_request_id", "")
    return JSONResponse({"error": {"code": code, "message": message, "request_id": request_id, **extra}}, status)


@app.exception_handler(ApiError)
async def api_error(request: Request, error: ApiError) -> JSONResponse:
    return _envelope(request, error.status, error.code, error.message)


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    details = [{"field": ".".join(str(p) for p in e["loc"][1:]), "message": e["msg"]} for e in error.errors()]
    return _envelope(request, 422, "validation_error", "Request validation failed.", details=details)


@app.exception_handler(HTTPException)
async def http_error(request: Request, error: HTTPException) -> JSONResponse:
    return _envelope(request, error.status_code, "not_found" if error.status_code == 404 else "error", "Not found.")


# --- helpers ---------------------------------------------------------------------------------------
def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_item(values: dict[str, Any]) -> dict[str, Any]:
    return {k: _serialize(v) for k, v in values.items() if v is not None}


def from_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _deserialize(v) for k, v in item.items()}


def user_id_of(authorization: Annotated[str | None, Header()] = None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "unauthorized", "A valid bearer token is required.")
    try:
        claims = jwt.decode(
            token, secret("JWT_SECRET"), algorithms=["HS256"], audience="payments-clients", issuer="payments-api"
        )
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "unauthorized", "The bearer token has expired: sign in again.") from None
    except jwt.InvalidTokenError:
        raise ApiError(401, "unauthorized", "A valid bearer token is required.") from None
    return str(claims["sub"])


UserId = Annotated[str, Depends(user_id_of)]


def payment_out(item: dict[str, Any]) -> dict[str, Any]:
    payment = {k: v for k, v in item.items() if k not in ("pk", "sk", "user_id")}
    for name in ("amount", "amount_captured", "amount_refunded"):
        payment[name] = int(payment.get(name, 0))
    payment.setdefault("description", None)
    payment.setdefault("metadata", {})
    payment.setdefault("provider_payment_id", None)
    payment.setdefault("next_action", None)
    payment.setdefault("client_secret", None)
    payment["refunds"] = [{"reason": None, **r, "amount": int(r["amount"])} for r in payment.get("refunds", [])]
    return payment


def load_payment(user_id: str, payment_id: str) -> dict[str, Any]:
    found = dynamodb.get_item(TableName=TABLE, Key=to_item({"pk": f"USER#{user_id}", "sk": f"PAY#{payment_id}"}))
    if "Item" not in found:
        raise ApiError(404, "not_found", "Payment not found.")
    return from_item(found["Item"])


def save_change(payment: dict[str, Any], changes: dict[str, Any], expected_status: str) -> dict[str, Any]:
    """Writes ``changes`` to the payment if it is still in ``expected_status``."""
    changes = {**changes, "updated_at": now_iso()}
    names = {f"#f{i}": name for i, name in enumerate(changes)}
    values = {f":v{i}": _serialize(value) for i, value in enumerate(changes.values())}
    try:
        dynamodb.update_item(
            TableName=TABLE,
            Key=to_item({"pk": payment["pk"], "sk": payment["sk"]}),
            UpdateExpression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(changes))),
            ConditionExpression="#status = :expected",
            ExpressionAttributeNames={**names, "#status": "status"},
            ExpressionAttributeValues={**values, ":expected": _serialize(expected_status)},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ApiError(409, "request_in_progress", "The payment changed meanwhile: retry.") from None
        raise
    return {**payment, **changes}


INTENT_STATUS = {
    "succeeded": "succeeded",
    "processing": "processing",
    "requires_action": "requires_action",
    "requires_capture": "requires_capture",
    "canceled": "canceled",
    "requires_payment_method": "failed",
}


def intent_fields(obj: Any) -> dict[str, Any]:
    intent = obj.to_dict()
    status = INTENT_STATUS.get(intent["status"], "processing")
    return {
        "status": status,
        "provider_payment_id": intent["id"],
        "amount_captured": int(intent.get("amount_received") or 0),
        "next_action": intent.get("next_action"),
        "client_secret": intent.get("client_secret") if status == "requires_action" else None,
    }


def stripe_call(operation: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return operation(*args, **kwargs)
    except stripe.CardError:
        raise ApiError(402, "payment_declined", "The card was declined.") from None
    except (stripe.APIConnectionError, stripe.RateLimitError):
        raise ApiError(503, "provider_unavailable", "Stripe could not be reached: retry.") from None
    except stripe.StripeError:
        raise ApiError(502, "provider_error", "Stripe refused the request.") from None


def send_code(user_id: str, payment_id: str, email: str) -> str:
    code = f"{secrets.randbelow(1_000_000):06d}"
    expires = int(time.time()) + 300
    digest = hmac.new(secret("JWT_SECRET").encode(), code.encode(), hashlib.sha256).hexdigest()
    dynamodb.put_item(
        TableName=TABLE,
        Item=to_item(
            {"pk": f"USER#{user_id}", "sk": f"OTP#{payment_id}", "code": digest, "expires": expires, "attempts": 0}
        ),
    )
    ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": [email]},
        Message={
            "Subject": {"Data": "Your payment code"},
            "Body": {"Text": {"Data": f"Your code is {code}. It expires in 5 minutes."}},
        },
    )
    return datetime.fromtimestamp(expires, UTC).isoformat().replace("+00:00", "Z")


def create_intent(payment: dict[str, Any], key: str) -> Any:
    params: dict[str, Any] = {
        "amount": int(payment["amount"]),
        "currency": payment["currency"],
        "payment_method": payment["payment_method"],
        "allowed_payment_method_types": ["card"],
        "capture_method": payment["capture_method"],
        "confirm": True,
        "metadata": {**payment.get("metadata", {}), "payment_id": payment["payment_id"]},
    }
    if payment.get("description"):
        params["description"] = payment["description"]
    return stripe_call(stripe_client().v1.payment_intents.create, params=params, options={"idempotency_key": key})


def page_cursor(key: dict[str, Any] | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def start_key(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        return {"ExclusiveStartKey": json.loads(base64.urlsafe_b64decode(cursor))}
    except ValueError:
        raise ApiError(422, "validation_error", "Invalid cursor.") from None


# --- routes ----------------------------------------------------------------------------------------
@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/auth/signup", status_code=201, response_model=UserOut)
def signup(body: SignupRequest) -> Any:
    email = body.email.lower()
    user = {"user_id": "usr_" + uuid.uuid4().hex, "email": email, "created_at": now_iso()}
    try:
        dynamodb.put_item(
            TableName=TABLE,
            Item=to_item({"pk": f"USER#{email}", "sk": "PROFILE", **user, "password": hasher.hash(body.password)}),
            ConditionExpression="attribute_not_exists(pk)",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ApiError(409, "email_taken", "This email is already registered.") from None
        raise
    metrics.add_metric(name="SignUp", unit=MetricUnit.Count, value=1)
    return user


@app.post("/auth/signin", response_model=TokenOut)
def signin(body: SigninRequest) -> Any:
    found = dynamodb.get_item(TableName=TABLE, Key=to_item({"pk": f"USER#{body.email.lower()}", "sk": "PROFILE"}))
    user = from_item(found["Item"]) if "Item" in found else None
    try:
        if user is not None:
            hasher.verify(user["password"], body.password)
    except argon2.exceptions.VerificationError:
        user = None
    if user is None:
        raise ApiError(401, "invalid_credentials", "The email or the password is wrong.")
    issued = int(time.time())
    claims = {
        "sub": user["user_id"],
        "email": user["email"],
        "iss": "payments-api",
        "aud": "payments-clients",
        "iat": issued,
        "exp": issued + TOKEN_TTL,
    }
    return {"access_token": jwt.encode(claims, secret("JWT_SECRET"), algorithm="HS256"), "expires_in": TOKEN_TTL}


@app.post("/payments", status_code=201, response_model=PaymentOut)
def create_payment(
    body: CreatePaymentRequest, idempotency_key: IdempotencyKey, user_id: UserId, authorization: str = Header()
) -> Any:
    now = now_iso()
    payment_id = f"pay_{time.time_ns():x}{secrets.token_hex(4)}"
    payment: dict[str, Any] = {
        "pk": f"USER#{user_id}",
        "sk": f"PAY#{payment_id}",
        "payment_id": payment_id,
        "user_id": user_id,
        "status": "requires_otp" if body.amount >= OTP_THRESHOLD else "processing",
        "amount_captured": 0,
        "amount_refunded": 0,
        "provider": "stripe",
        "refunds": [],
        "idempotency_key": idempotency_key,
        "created_at": now,
        "updated_at": now,
        **body.model_dump(),
    }
    if payment["status"] != "requires_otp":
        intent = create_intent(payment, f"{user_id}:{idempotency_key}")
        payment.update(intent_fields(intent))
    dynamodb.put_item(TableName=TABLE, Item=to_item(payment), ConditionExpression="attribute_not_exists(pk)")
    if payment["status"] == "requires_otp":
        email = jwt.decode(authorization.partition(" ")[2], options={"verify_signature": False})["email"]
        send_code(user_id, payment_id, email)
    else:
        dynamodb.put_item(
            TableName=TABLE,
            Item=to_item({"pk": f"INTENT#{payment['provider_payment_id']}", "sk": "INTENT", "owner": payment["pk"]}),
        )
    metrics.add_metric(name="PaymentCreated", unit=MetricUnit.Count, value=1)
    return payment_out(payment)


@app.get("/payments", response_model=PaymentPage)
def list_payments(user_id: UserId, limit: Limit = 20, cursor: Cursor = None) -> Any:
    page = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :pay)",
        ExpressionAttributeValues=to_item({":pk": f"USER#{user_id}", ":pay": "PAY#"}),
        ScanIndexForward=False,
        Limit=limit,
        **start_key(cursor),
    )
    return {
        "items": [payment_out(from_item(item)) for item in page["Items"]],
        "next_cursor": page_cursor(page.get("LastEvaluatedKey")),
    }


@app.get("/payments/{payment_id}", response_model=PaymentOut)
def get_payment(payment_id: str, user_id: UserId) -> Any:
    return payment_out(load_payment(user_id, payment_id))


@app.post("/payments/{payment_id}/capture", response_model=PaymentOut)
def capture(payment_id: str, body: CaptureRequest, idempotency_key: IdempotencyKey, user_id: UserId) -> Any:
    payment = load_payment(user_id, payment_id)
    if payment["status"] != "requires_capture":
        raise ApiError(409, "payment_not_capturable", "The payment is not awaiting capture.")
    intent = stripe_call(
        stripe_client().v1.payment_intents.capture,
        payment["provider_payment_id"],
        params={"amount_to_capture": body.amount} if body.amount else {},
        options={"idempotency_key": f"{user_id}:capture:{idempotency_key}"},
    )
    return payment_out(save_change(payment, intent_fields(intent), "requires_capture"))


@app.post("/payments/{payment_id}/cancel", response_model=PaymentOut)
def cancel(payment_id: str, idempotency_key: IdempotencyKey, user_id: UserId) -> Any:
    payment = load_payment(user_id, payment_id)
    if payment["status"] not in ("requires_capture", "requires_otp", "requires_action"):
        raise ApiError(409, "payment_not_cancelable", "The payment cannot be canceled.")
    changes: dict[str, Any] = {"status": "canceled"}
    if payment.get("provider_payment_id"):
        intent = stripe_call(
            stripe_client().v1.payment_intents.cancel,
            payment["provider_payment_id"],
            options={"idempotency_key": f"{user_id}:cancel:{idempotency_key}"},
        )
        changes = intent_fields(intent)
    return payment_out(save_change(payment, changes, payment["status"]))


@app.post("/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut)
def refund(payment_id: str, body: RefundRequest, idempotency_key: IdempotencyKey, user_id: UserId) -> Any:
    payment = load_payment(user_id, payment_id)
    if payment["status"] not in ("succeeded", "partially_refunded"):
        raise ApiError(409, "payment_not_refundable", "The payment cannot be refunded.")
    remaining = int(payment["amount_captured"]) - int(payment["amount_refunded"])
    amount = body.amount or remaining
    if amount > remaining:
        raise ApiError(409, "refund_exceeds_remaining", "The refund exceeds what remains.")
    params: dict[str, Any] = {"payment_intent": payment["provider_payment_id"], "amount": amount}
    if body.reason:
        params["reason"] = body.reason
    made = stripe_call(
        stripe_client().v1.refunds.create,
        params=params,
        options={"idempotency_key": f"{user_id}:refund:{idempotency_key}"},
    )
    out = {
        "refund_id": made["id"],
        "payment_id": payment_id,
        "amount": amount,
        "currency": payment["currency"],
        "status": "succeeded" if made["status"] == "succeeded" else "pending",
        "reason": body.reason,
        "created_at": now_iso(),
    }
    refunded = int(payment["amount_refunded"]) + amount
    try:
        dynamodb.update_item(
            TableName=TABLE,
            Key=to_item({"pk": payment["pk"], "sk": payment["sk"]}),
            UpdateExpression="SET amount_refunded = :now, refunds = list_append(refunds, :r), #s = :s, updated_at = :t",
            ConditionExpression="amount_refunded = :before",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=to_item(
                {
                    ":now": refunded,
                    ":before": int(payment["amount_refunded"]),
                    ":r": [{k: v for k, v in out.items() if v is not None}],
                    ":s": "refunded" if refunded >= int(payment["amount_captured"]) else "partially_refunded",
                    ":t": now_iso(),
                }
            ),
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            raise ApiError(409, "request_in_progress", "The payment changed meanwhile: retry.") from None
        raise
    metrics.add_metric(name="RefundCreated", unit=MetricUnit.Count, value=1)
    return out


@app.post("/payments/{payment_id}/otp", status_code=202, response_model=CodeSentOut)
def otp_send(payment_id: str, user_id: UserId, authorization: str = Header()) -> Any:
    payment = load_payment(user_id, payment_id)
    if payment["status"] != "requires_otp":
        raise ApiError(409, "otp_not_required", "The payment needs no code.")
    email = jwt.decode(authorization.partition(" ")[2], options={"verify_signature": False})["email"]
    return {"expires_at": send_code(user_id, payment_id, email)}


@app.post("/payments/{payment_id}/otp/verify", response_model=PaymentOut)
def otp_verify(payment_id: str, body: VerifyCodeRequest, user_id: UserId) -> Any:
    payment = load_payment(user_id, payment_id)
    if payment["status"] != "requires_otp":
        raise ApiError(409, "otp_not_required", "The payment needs no code.")
    key = to_item({"pk": f"USER#{user_id}", "sk": f"OTP#{payment_id}"})
    found = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)
    otp = from_item(found["Item"]) if "Item" in found else None
    if otp is None or int(otp["expires"]) < time.time():
        raise ApiError(410, "otp_expired", "No live code: ask for a new one.")
    digest = hmac.new(secret("JWT_SECRET").encode(), body.code.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(digest, otp["code"]):
        dynamodb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="ADD attempts :one",
            ExpressionAttributeValues=to_item({":one": 1}),
        )
        raise ApiError(400, "invalid_otp", "The code is wrong.")
    dynamodb.delete_item(TableName=TABLE, Key=key)
    intent = create_intent(payment, f"{user_id}:{payment['idempotency_key']}")
    dynamodb.put_item(
        TableName=TABLE,
        Item=to_item({"pk": f"INTENT#{intent['id']}", "sk": "INTENT", "owner": payment["pk"]}),
    )
    return payment_out(save_change(payment, intent_fields(intent), "requires_otp"))


@app.get("/transactions", response_model=TransactionPage)
def list_transactions(user_id: UserId, limit: Limit = 20, cursor: Cursor = None) -> Any:
    page = dynamodb.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues=to_item({":pk": f"LEDGER#{user_id}"}),
        ScanIndexForward=False,
        Limit=limit,
        **start_key(cursor),
    )
    items = [from_item(item) for item in page["Items"]]
    return {
        "items": [{k: v for k, v in i.items() if k not in ("pk", "sk")} for i in items],
        "next_cursor": page_cursor(page.get("LastEvaluatedKey")),
    }


@app.post("/webhooks/stripe")
async def webhook(request: Request, stripe_signature: Annotated[str | None, Header()] = None) -> dict[str, bool]:
    payload = await request.body()
    try:
        event = stripe.Webhook.construct_event(payload, stripe_signature or "", secret("STRIPE_WEBHOOK_SECRET"))
    except (ValueError, stripe.SignatureVerificationError):
        raise ApiError(400, "invalid_signature", "The signature is missing, stale or wrong.") from None
    if event["type"].startswith("payment_intent."):
        intent = event["data"]["object"]
        found = dynamodb.get_item(TableName=TABLE, Key=to_item({"pk": f"INTENT#{intent['id']}", "sk": "INTENT"}))
        fields = intent_fields(intent)
        if "Item" in found and fields["status"] != "processing":
            owner = from_item(found["Item"])["owner"]
            try:
                dynamodb.update_item(
                    TableName=TABLE,
                    Key=to_item({"pk": owner, "sk": f"PAY#{intent['metadata']['payment_id']}"}),
                    UpdateExpression="SET #s = :s, amount_captured = :c, updated_at = :t",
                    ConditionExpression="attribute_exists(pk) AND #s <> :s",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=to_item(
                        {":s": fields["status"], ":c": fields["amount_captured"], ":t": now_iso()}
                    ),
                )
            except ClientError as error:  # already in that state: a duplicate delivery
                if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
    return {"received": True}


_mangum = Mangum(app, lifespan="off")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _mangum(event, context)
