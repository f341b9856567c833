"""The usual alternative, for the cold-start comparison: one FastAPI + Mangum function holding every
route of the contract with its request and response models (as a FastAPI app declares them), the same
dependencies (every library any of our functions imports) and the same one-time work (clients, SSM
provider, the Stripe SDK's lazily loaded modules). Its init is this module's import. It must not import
our package, so the models are written out here (the same fields and constraints)."""

# Route parameters are declared for what FastAPI builds from them; the routes do not use them.
# ruff: noqa: ARG001

from __future__ import annotations

from typing import Annotated, Any, Literal

import argon2
import boto3
import jwt
import stripe
from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import Metrics
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from aws_lambda_powertools.utilities.parameters import SSMProvider
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsRecordModel
from fastapi import FastAPI, Header, Query, Request
from mangum import Mangum
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

logger = Logger()
metrics = Metrics(namespace="Payments")
app = FastAPI()
dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")
events = boto3.client("events")
ses = boto3.client("ses")
secrets = SSMProvider(boto3_client=ssm)
idempotency = DynamoDBPersistenceLayer(table_name="IdempotencyTable", boto3_client=dynamodb)
batch = BatchProcessor(event_type=EventType.SQS, model=SqsRecordModel)
hasher = argon2.PasswordHasher()
stripe_client = stripe.StripeClient("sk_test_unused", http_client=stripe.RequestsClient())
_ = (jwt.encode, stripe_client.v1.payment_intents, stripe_client.v1.refunds, stripe.WebhookSignature, EventBridgeModel)


Amount = Annotated[int, Field(ge=1, le=99_999_999)]
Currency = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}$")]
Email = Annotated[str, StringConstraints(max_length=254)]
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


# The routes only validate and answer: what is measured is what FastAPI builds for them at import.
@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/auth/signup", status_code=201, response_model=UserOut)
def signup(body: SignupRequest) -> Any:
    return {"user_id": "u", "email": body.email, "created_at": ""}


@app.post("/auth/signin", response_model=TokenOut)
def signin(body: SigninRequest) -> Any:
    return {"access_token": body.email, "expires_in": 900}


@app.post("/payments", status_code=201, response_model=PaymentOut)
def create_payment(body: CreatePaymentRequest, idempotency_key: IdempotencyKey) -> Any:
    return body


@app.get("/payments", response_model=PaymentPage)
def list_payments(limit: Limit = 20, cursor: Cursor = None) -> Any:
    return {"items": [], "next_cursor": cursor}


@app.get("/payments/{payment_id}", response_model=PaymentOut)
def get_payment(payment_id: str) -> Any:
    return {"payment_id": payment_id}


@app.post("/payments/{payment_id}/capture", response_model=PaymentOut)
def capture(payment_id: str, body: CaptureRequest, idempotency_key: IdempotencyKey) -> Any:
    return {"payment_id": payment_id}


@app.post("/payments/{payment_id}/cancel", response_model=PaymentOut)
def cancel(payment_id: str, idempotency_key: IdempotencyKey) -> Any:
    return {"payment_id": payment_id}


@app.post("/payments/{payment_id}/refunds", status_code=201, response_model=RefundOut)
def refund(payment_id: str, body: RefundRequest, idempotency_key: IdempotencyKey) -> Any:
    return {"payment_id": payment_id}


@app.post("/payments/{payment_id}/otp", status_code=202, response_model=CodeSentOut)
def send_code(payment_id: str) -> Any:
    return {"expires_at": payment_id}


@app.post("/payments/{payment_id}/otp/verify", response_model=PaymentOut)
def verify_code(payment_id: str, body: VerifyCodeRequest) -> Any:
    return {"payment_id": payment_id}


@app.get("/transactions", response_model=TransactionPage)
def list_transactions(limit: Limit = 20, cursor: Cursor = None) -> Any:
    return {"items": [], "next_cursor": cursor}


@app.post("/webhooks/stripe")
async def webhook(request: Request, stripe_signature: Annotated[str, Header()]) -> dict[str, bool]:
    await request.body()
    return {"received": True}


handler = Mangum(app)
