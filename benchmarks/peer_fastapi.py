"""The usual alternative, for the cold-start comparison: one FastAPI + Mangum function holding every
route, with the same dependencies. Its init is what this module does at import."""

from __future__ import annotations

import argon2
import boto3
import jwt
import stripe
from aws_lambda_powertools.logging import Logger
from fastapi import FastAPI, Header
from mangum import Mangum
from pydantic import BaseModel

logger = Logger()
app = FastAPI()
dynamodb = boto3.client("dynamodb")
ssm = boto3.client("ssm")
events = boto3.client("events")
ses = boto3.client("ses")
hasher = argon2.PasswordHasher()
_ = (jwt.encode, stripe.StripeClient)


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
