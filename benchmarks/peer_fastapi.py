"""The usual alternative, for the cold-start comparison: one FastAPI + Mangum function holding every
route, with the same dependencies (every library any of our functions imports) and the same one-time
work (clients, SSM provider, the Stripe SDK's lazily loaded modules). Its init is this module's import."""

from __future__ import annotations

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
from fastapi import FastAPI, Header
from mangum import Mangum
from pydantic import BaseModel

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


class Credentials(BaseModel):
    email: str
    password: str


class PaymentIn(BaseModel):
    amount: int
    currency: str
    payment_method: str


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/auth/signup", status_code=201)
def signup(body: Credentials) -> dict[str, str]:
    return {"email": body.email}


@app.post("/auth/signin")
def signin(body: Credentials) -> dict[str, str]:
    return {"email": body.email}


@app.post("/payments", status_code=201)
def create_payment(body: PaymentIn, idempotency_key: str = Header()) -> dict[str, int]:  # noqa: ARG001
    return {"amount": body.amount}


@app.get("/payments/{payment_id}")
def get_payment(payment_id: str) -> dict[str, str]:
    return {"payment_id": payment_id}


@app.post("/payments/{payment_id}/refunds", status_code=201)
def refund(payment_id: str) -> dict[str, str]:
    return {"payment_id": payment_id}


@app.post("/webhooks/stripe")
def webhook() -> dict[str, bool]:
    return {"received": True}


handler = Mangum(app)
