"""One-time codes for large payments (NIST SP 800-63B, OWASP MFA cheat sheet).

A code is 6 digits from ``secrets``, lives 5 minutes, is used once, and is stored only as an HMAC
keyed with a pepper (a secret outside the table). ``USER#<user> / OTP#<payment>`` holds the hash,
its expiry, the attempts made and the recent send times. Each guess first claims an attempt with a
conditional update (``attempts < 5``), so however many guesses arrive at once, at most five are
ever checked; the fifth wrong one cancels the payment. Attempts count per payment, not per code, so
re-sending does not buy more guesses.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Annotated, Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, StringConstraints

from payments_core import clock
from payments_core.aws import dynamodb_client
from payments_core.currencies import format_amount
from payments_core.dynamo import from_item, is_condition_failure, to_item
from payments_core.errors import ApiError
from payments_core.idempotency import Outcome
from payments_core.notifications import send_email
from payments_core.observability import logger
from payments_core.payments.models import Payment
from payments_core.payments.repository import Change
from payments_core.payments.service import (
    LEASE_SECONDS,
    PROVIDER_CALL_IN_PROGRESS,
    PaymentService,
    failed_outcome,
    leased,
    new_lease,
)
from payments_core.payments.transitions import cancel_locally, stamped

CODE_TTL_SECONDS = 5 * 60
MAX_ATTEMPTS = 5
MAX_SENDS = 3
SEND_WINDOW_SECONDS = 15 * 60

OTP_NOT_REQUIRED = ApiError(409, "otp_not_required", "This payment is not waiting for a one-time code.")
OTP_EXPIRED = ApiError(410, "otp_expired", "The code has expired. Ask for a new one.")
TOO_MANY_ATTEMPTS = ApiError(429, "too_many_attempts", "Too many wrong codes: the payment was canceled.")


class VerifyCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "123456"}]})

    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


class CodeSentOut(BaseModel):
    expires_at: str


def otp_key(user_id: str, payment_id: str) -> dict[str, str]:
    return {"PK": f"USER#{user_id}", "SK": f"OTP#{payment_id}"}


class OtpService:
    def __init__(self, payments: Callable[[], PaymentService], *, table_name: str, pepper: str, sender: str) -> None:
        # A factory: sending a code needs no payment service (nor the Stripe key it is built with,
        # which OtpSendFunction is not granted); only verifying does.
        self._payments = payments
        self.table_name = table_name
        self._pepper = pepper.encode()
        self.sender = sender

    def _hash(self, payment_id: str, code: str) -> str:
        return hmac.new(self._pepper, f"{payment_id}:{code}".encode(), hashlib.sha256).hexdigest()

    def _load(self, payment: Payment) -> dict[str, Any] | None:
        response = dynamodb_client().get_item(
            TableName=self.table_name, Key=to_item(otp_key(payment.user_id, payment.payment_id)), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None

    # --- send ------------------------------------------------------------------------------------
    def send(self, payment: Payment, *, first: bool = False) -> int:
        """Emails a fresh code (the previous one stops working); returns its expiry (epoch seconds)."""
        if payment.status != "requires_otp":
            raise OTP_NOT_REQUIRED
        for _ in range(5):
            current = self._load(payment)
            if first and current is not None:
                return int(current["expires_at"])  # a retried creation: the first code was already sent
            now = clock.epoch_seconds()
            recent = [int(t) for t in (current or {}).get("send_times", []) if int(t) > now - SEND_WINDOW_SECONDS]
            if len(recent) >= MAX_SENDS:
                raise ApiError(
                    429,
                    "rate_limited",
                    "Too many codes sent for this payment. Try again later.",
                    headers={"Retry-After": str(min(recent) + SEND_WINDOW_SECONDS - now)},
                )
            code = f"{secrets.randbelow(1_000_000):06d}"
            version = int((current or {}).get("version", 0))
            item = {
                **otp_key(payment.user_id, payment.payment_id),
                "code_hash": self._hash(payment.payment_id, code),
                "expires_at": now + CODE_TTL_SECONDS,
                "attempts": int((current or {}).get("attempts", 0)),
                "send_times": [*recent, now],
                "version": version + 1,
                "ttl": now + 7 * 24 * 3600,
            }
            try:
                dynamodb_client().put_item(
                    TableName=self.table_name,
                    Item=to_item(item),
                    ConditionExpression="attribute_not_exists(PK) OR version = :version",
                    ExpressionAttributeValues=to_item({":version": version}),
                )
            except ClientError as error:
                if is_condition_failure(error):
                    continue  # a concurrent send: read again
                raise
            self._email(payment, code)
            logger.info("one-time code sent", extra={"payment_id": payment.payment_id})
            return now + CODE_TTL_SECONDS
        raise ApiError(409, "request_in_progress", "Another code is being sent.", headers={"Retry-After": "1"})

    def _email(self, payment: Payment, code: str) -> None:
        amount = format_amount(payment.amount, payment.currency)  # as receipts show it: "750.00 USD"
        send_email(
            table_name=self.table_name,
            sender=self.sender,
            user_id=payment.user_id,
            subject="Your code to confirm a payment",
            body=f"Your code is {code}. It confirms payment {payment.payment_id} of {amount} and expires in 5 minutes.",
        )

    # --- verify ----------------------------------------------------------------------------------
    def verify(self, payment: Payment, code: str, request_id: str) -> Outcome:
        if payment.status == "processing" and payment.provider_payment_id is None:
            return self._confirm(payment, request_id)  # a verified code whose confirmation was interrupted
        if payment.status != "requires_otp":
            raise OTP_NOT_REQUIRED
        claimed = self._claim_attempt(payment)
        if claimed is None:
            return self._unclaimed(payment, code, request_id)
        attempts, stored_hash, expires_at = claimed
        if clock.epoch_seconds() > expires_at:
            raise OTP_EXPIRED
        if not hmac.compare_digest(stored_hash, self._hash(payment.payment_id, code)):
            if attempts >= MAX_ATTEMPTS:
                self._cancel(payment)
                raise TOO_MANY_ATTEMPTS
            raise ApiError(
                400,
                "invalid_otp",
                "The code is not right.",
                extra={"attempts_remaining": MAX_ATTEMPTS - attempts},
            )
        if not self._use(payment, stored_hash):
            raise OTP_NOT_REQUIRED  # a concurrent right guess already used it
        return self._start_confirming(payment, request_id)

    def _start_confirming(self, payment: Payment, request_id: str) -> Outcome:
        """Moves a payment whose right code was used to ``processing`` and confirms it."""
        lease = new_lease()

        def start_confirming(current: Payment) -> Change | None:
            if current.status != "requires_otp":
                return None  # canceled meanwhile (no money may move), or our own move already applied
            # The move carries the first provider attempt and its lease, as a direct payment's creation does.
            return Change(
                stamped(current, status="processing", provider_attempts=current.provider_attempts + 1, **leased(lease))
            )

        stored = self._payments().repository.update(payment.user_id, payment.payment_id, start_confirming)
        if stored is None or stored.status != "processing" or stored.lease_holder != lease:
            raise OTP_NOT_REQUIRED
        return self._confirm(stored, request_id, lease=lease)

    def _unclaimed(self, payment: Payment, code: str, request_id: str) -> Outcome:
        """Why no attempt could be claimed: only five wrong codes cancel the payment. A code already
        used while the payment still waits for one means the request that used it is moving it on,
        or died between the two writes; the same right code resumes it once that request cannot be
        alive (the lease's span), rather than leaving the payment waiting on a code no one can use."""
        current = self._load(payment)
        if current is None:  # no code was stored (its first send was cut short)
            raise OTP_EXPIRED
        if "used_at" in current:
            if not hmac.compare_digest(str(current["code_hash"]), self._hash(payment.payment_id, code)):
                raise OTP_NOT_REQUIRED  # a guess after the right code: that request confirms the payment
            if int(current["used_at"]) + LEASE_SECONDS > clock.epoch_seconds():
                raise PROVIDER_CALL_IN_PROGRESS
            return self._start_confirming(payment, request_id)
        self._cancel(payment)
        raise TOO_MANY_ATTEMPTS

    def _confirm(self, payment: Payment, request_id: str, *, lease: str | None = None) -> Outcome:
        confirmed = self._payments().confirm(payment, lease=lease)
        if confirmed.status == "failed":
            return failed_outcome(confirmed, request_id)
        return {"status": 200, "body": confirmed.public()}

    def _claim_attempt(self, payment: Payment) -> tuple[int, str, int] | None:
        """Counts one attempt atomically; None once the limit is reached (or there is no code)."""
        try:
            response = dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(otp_key(payment.user_id, payment.payment_id)),
                # The version moves too, so a concurrent send (conditional on it) reads the attempt.
                UpdateExpression="SET attempts = attempts + :one, version = version + :one",
                ConditionExpression="attribute_exists(PK) AND attempts < :max AND attribute_not_exists(used_at)",
                ExpressionAttributeValues=to_item({":one": 1, ":max": MAX_ATTEMPTS}),
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if is_condition_failure(error):
                return None
            raise
        item = from_item(response["Attributes"])
        return int(item["attempts"]), str(item["code_hash"]), int(item["expires_at"])

    def _use(self, payment: Payment, code_hash: str) -> bool:
        try:
            dynamodb_client().update_item(
                TableName=self.table_name,
                Key=to_item(otp_key(payment.user_id, payment.payment_id)),
                UpdateExpression="SET used_at = :now, version = version + :one",
                ConditionExpression="attribute_not_exists(used_at) AND code_hash = :hash",
                ExpressionAttributeValues=to_item({":now": clock.epoch_seconds(), ":hash": code_hash, ":one": 1}),
            )
        except ClientError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def _cancel(self, payment: Payment) -> None:
        self._payments().repository.update(payment.user_id, payment.payment_id, cancel_locally)
