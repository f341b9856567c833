"""Every key of the application table, in one place: one table holds users, payments, refunds (inside
their payment), one-time codes, the ledger, deferred webhook events and the outbox, each under its own prefix.
Nothing else spells a prefix; the repositories build their items' keys from these."""

from __future__ import annotations

Key = dict[str, str]

USER = "USER#"
PAYMENT = "PAY#"
TRANSACTION = "TXN#"


def user_pk(user_id: str) -> str:
    return USER + user_id


def user_of(pk: str) -> str:
    return pk.removeprefix(USER)


def profile(user_id: str) -> Key:
    """A user's account (email, password hash)."""
    return {"PK": user_pk(user_id), "SK": "PROFILE"}


def email(address: str) -> Key:
    """An email address taken by an account (signup's uniqueness)."""
    return {"PK": f"EMAIL#{address}", "SK": "EMAIL"}


def payment(user_id: str, payment_id: str) -> Key:
    """A payment with its refunds: under its owner, so another user's id is simply not there."""
    return {"PK": user_pk(user_id), "SK": PAYMENT + payment_id}


def payment_of(key: dict[str, str]) -> tuple[str, str]:
    """(user id, payment id) of a payment's key."""
    return user_of(key["PK"]), key["SK"].removeprefix(PAYMENT)


def otp(user_id: str, payment_id: str) -> Key:
    """A payment's one-time code."""
    return {"PK": user_pk(user_id), "SK": f"OTP#{payment_id}"}


def otp_day(user_id: str, day: int) -> Key:
    """The codes a user had sent and the wrong codes they used up on one UTC day, all payments."""
    return {"PK": user_pk(user_id), "SK": f"OTPDAY#{day}"}


def provider_link(provider_payment_id: str) -> Key:
    """A provider's intent id, leading back to the payment."""
    return {"PK": f"PI#{provider_payment_id}", "SK": "PI"}


DEFERRED = "DEFERRED#"


def deferred(event_id: str) -> Key:
    """A webhook event answered "deliver again", until it is applied."""
    return {"PK": DEFERRED + event_id, "SK": "DEFERRED"}


def deferred_event_of(pk: str) -> str:
    return pk.removeprefix(DEFERRED)


def transaction(user_id: str, occurred_at: str, txn_id: str) -> Key:
    """A ledger entry, under its user, newest last by sort key."""
    return {"PK": user_pk(user_id), "SK": f"{TRANSACTION}{occurred_at}#{txn_id}"}
