"""The same Idempotency-Key while the first request still runs: wait for it, else 409 with Retry-After
(``payment_outcomes.patiently``, as the capture, cancel and refund routes call it)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from payments_core.api import status_of
from payments_core.errors import DomainError
from payments_core.payment_outcomes import patiently
from payments_core.payments.leases import KEY_IN_PROGRESS, PROVIDER_CALL_IN_PROGRESS


def busy_until(seconds: float, answer: Any, refusal: DomainError = KEY_IN_PROGRESS) -> Any:
    """An operation refused with ``refusal`` until ``seconds`` from now, then answered; counts its calls."""
    until, calls = time.monotonic() + seconds, []

    def call() -> Any:
        calls.append(1)
        if time.monotonic() < until:
            raise refusal
        return answer

    call.calls = calls  # type: ignore[attr-defined]
    return call


def test_a_retry_while_its_keys_first_request_runs_waits_and_gets_the_answer() -> None:
    # Given a first request with the key that finishes half a second after its retry arrives
    call = busy_until(0.5, ("the payment", True))
    # When the retry arrives, Then it waits and answers what the first made, as a replay
    assert patiently(call, waits_for=KEY_IN_PROGRESS) == ("the payment", True)
    assert len(call.calls) > 1


def test_a_retry_while_the_first_still_runs_after_the_wait_is_409_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from payments_core import idempotency_keys

    monkeypatch.setattr(idempotency_keys, "IN_PROGRESS_WAIT_SECONDS", 0.3)
    # When the retry outwaits its patience, Then it is told to come back
    with pytest.raises(DomainError) as raised:
        patiently(busy_until(5, "never"), waits_for=KEY_IN_PROGRESS)
    assert (status_of(raised.value), raised.value.code) == (409, "request_in_progress")
    assert raised.value.retry_after == 1


def test_a_request_meeting_another_keys_call_at_the_provider_is_told_at_once() -> None:
    # Another key's capture holds the payment's lease: no waiting for it, 409 request_in_progress now
    call = busy_until(0.5, "never", refusal=PROVIDER_CALL_IN_PROGRESS)
    started = time.monotonic()
    with pytest.raises(DomainError) as raised:
        patiently(call, waits_for=KEY_IN_PROGRESS)
    assert raised.value is PROVIDER_CALL_IN_PROGRESS
    assert (len(call.calls), time.monotonic() - started < 0.2) == (1, True)


@pytest.mark.parametrize(
    ("key", "taken"),
    [
        ("order-1042", True),
        ("k" * 255, True),
        ("~ !", True),
        ("", False),
        ("k" * 256, False),
        ("é", False),  # a Latin-1 byte as the header arrives
        ("key\u2028", False),
        ("tab\there", False),
        ("日本", False),
    ],
)
def test_an_idempotency_key_is_1_to_255_printable_ascii_characters(key: str, taken: bool) -> None:
    from payments_core.errors import RequestValidationError
    from payments_core.idempotency_keys import validated_key

    if taken:
        assert validated_key({"Idempotency-Key": key}) == key
    else:
        with pytest.raises(RequestValidationError):
            validated_key({"idempotency-key": key})
