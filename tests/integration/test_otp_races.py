"""Races around a one-time code, interleaved deterministically in-process on moto and localstripe.

Each test runs a second request at the exact point where the first one is most exposed (the code
just used, the provider call in flight) and then lets the first finish, counting PaymentIntents at
localstripe itself.
"""

from __future__ import annotations

import uuid
from typing import Any, NoReturn

import pytest

from payments_core.api import status_of
from payments_core.aws import dynamodb_client
from payments_core.dynamo import to_item
from payments_core.errors import DomainError
from tests.dynamo_faults import ConflictingTransactions, ConflictingWrites
from tests.integration.conftest import InProcessOtp, RunningStack, last_code, outcome_of, run_meanwhile
from tests.integration.test_payments import stripe_intents_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("aws")]


def test_a_cancel_that_lands_after_the_code_is_used_moves_no_money(
    stack: RunningStack, otp_services: InProcessOtp
) -> None:
    # Given a large payment and its code
    payment_id = otp_services.create()
    code = last_code()
    # When the client cancels it right after a verify has used the code, before that verify confirms
    canceled = run_meanwhile(
        otp_services.otp.codes,
        "use",
        lambda: otp_services.payments.cancel(otp_services.user_id, payment_id, uuid.uuid4().hex),
    )
    answer = outcome_of(lambda: otp_services.verify(payment_id, code))
    # Then nothing was charged at the provider, the cancel stands and the verify says so
    assert stripe_intents_for(stack, payment_id) == [], "a canceled payment was charged"
    assert canceled[0].status == "canceled"
    assert otp_services.status(payment_id) == "canceled"
    assert isinstance(answer, DomainError)
    assert (status_of(answer), answer.code) == (409, "otp_not_required")


def test_a_second_verify_while_the_first_confirms_cancels_nothing(
    stack: RunningStack, otp_services: InProcessOtp
) -> None:
    # Given a large payment and its code
    payment_id = otp_services.create()
    code = last_code()
    # When the same code arrives again (a double submit) just after the first verify used it
    second = run_meanwhile(otp_services.otp.codes, "use", lambda: otp_services.verify(payment_id, code))
    first = outcome_of(lambda: otp_services.verify(payment_id, code))
    # Then the first charges once, and the second is asked to come back (it will find the payment done)
    assert len(stripe_intents_for(stack, payment_id)) == 1
    assert isinstance(second[0], DomainError)
    assert (status_of(second[0]), second[0].code) == (409, "request_in_progress")
    assert second[0].retry_after
    assert first["status"] == 200
    assert first["body"]["status"] == "succeeded"
    assert otp_services.status(payment_id) == "succeeded"


def test_a_wrong_guess_while_the_first_confirms_cancels_nothing(
    stack: RunningStack, otp_services: InProcessOtp
) -> None:
    payment_id = otp_services.create()
    code = last_code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    second = run_meanwhile(otp_services.otp.codes, "use", lambda: otp_services.verify(payment_id, wrong))
    first = otp_services.verify(payment_id, code)
    assert isinstance(second[0], DomainError)
    assert (status_of(second[0]), second[0].code) == (409, "otp_not_required")
    assert first["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, payment_id)) == 1


def test_a_verify_while_the_provider_call_is_in_flight_waits_for_it(
    stack: RunningStack, otp_services: InProcessOtp
) -> None:
    # Given a large payment whose right code has been accepted and whose intent is being created
    payment_id = otp_services.create()
    code = last_code()
    # When another verify arrives while that provider call is still on its way
    second = run_meanwhile(
        otp_services.payments.providers["stripe"],
        "create_intent",
        lambda: otp_services.verify(payment_id, code),
        before=True,
    )
    first = otp_services.verify(payment_id, code)
    # Then only one PaymentIntent exists, and the second is asked to come back
    assert len(stripe_intents_for(stack, payment_id)) == 1
    assert isinstance(second[0], DomainError)
    assert (status_of(second[0]), second[0].code) == (409, "request_in_progress")
    assert second[0].retry_after
    assert first["body"]["status"] == "succeeded"


def verify_dying_in(otp_services: InProcessOtp, owner: object, name: str, payment_id: str, code: str) -> None:
    """A verify whose Lambda times out inside ``owner.name``."""

    def crash(*_: Any, **__: Any) -> NoReturn:
        raise TimeoutError("injected: the Lambda timed out")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(owner, name, crash)
        with pytest.raises(TimeoutError):
            otp_services.verify(payment_id, code)


def assert_resumed_after_the_lease(stack: RunningStack, otp_services: InProcessOtp, payment_id: str, code: str) -> None:
    """A retry at once may overlap the request that died: come back later. Once no Lambda could still be
    running it, a retry confirms the payment, with one PaymentIntent."""
    with pytest.raises(DomainError) as error:
        otp_services.verify(payment_id, code)
    assert (status_of(error.value), error.value.code) == (409, "request_in_progress")
    assert error.value.retry_after
    otp_services.now[0] += 31
    outcome = otp_services.verify(payment_id, code)
    assert outcome["body"]["status"] == "succeeded"
    assert len(stripe_intents_for(stack, payment_id)) == 1


def test_a_confirmation_cut_short_resumes_once_its_lease_has_run_out(
    stack: RunningStack, otp_services: InProcessOtp
) -> None:
    # Given a verify that used the right code and then died while the provider call was in flight
    payment_id = otp_services.create()
    code = last_code()
    verify_dying_in(otp_services, otp_services.payments.providers["stripe"], "create_intent", payment_id, code)
    assert otp_services.status(payment_id) == "processing"
    # Then a retry at once is asked to come back, and one after the lease confirms it, once
    assert_resumed_after_the_lease(stack, otp_services, payment_id, code)


def test_a_verify_that_died_right_after_using_the_code_is_resumed_by_the_same_code(
    stack: RunningStack, otp_services: InProcessOtp
) -> None:
    # Given a verify that used the right code and died before moving the payment on
    payment_id = otp_services.create()
    code = last_code()
    verify_dying_in(otp_services, otp_services.payments.repository, "update", payment_id, code)
    assert otp_services.status(payment_id) == "requires_otp"
    # When a wrong code arrives meanwhile, it neither resumes nor cancels it
    with pytest.raises(DomainError) as error:
        otp_services.verify(payment_id, f"{(int(code) + 1) % 1_000_000:06d}")
    assert (status_of(error.value), error.value.code) == (409, "otp_not_required")
    # Then the same code, retried at once, is asked to come back, and after the lease confirms it, once
    assert_resumed_after_the_lease(stack, otp_services, payment_id, code)
    assert otp_services.status(payment_id) == "succeeded"


def test_a_guess_at_a_payment_whose_code_was_never_stored_cancels_nothing(otp_services: InProcessOtp) -> None:
    # Given a large payment whose first send was cut short before its code was stored
    payment_id = otp_services.create()
    dynamodb_client().delete_item(
        TableName="AppTable", Key=to_item({"PK": f"USER#{otp_services.user_id}", "SK": f"OTP#{payment_id}"})
    )
    # When a code is tried, then the client is asked for a new one and the payment still waits
    with pytest.raises(DomainError) as error:
        otp_services.verify(payment_id, "123456")
    assert (status_of(error.value), error.value.code) == (410, "otp_expired")
    assert otp_services.status(payment_id) == "requires_otp"
    otp_services.otp.send(otp_services.payments.get(otp_services.user_id, payment_id))
    assert otp_services.verify(payment_id, last_code())["body"]["status"] == "succeeded"


def test_a_guess_made_while_a_code_is_being_resent_still_counts(otp_services: InProcessOtp) -> None:
    # Given a large payment that has had three wrong guesses
    payment_id = otp_services.create()
    wrong = f"{(int(last_code()) + 1) % 1_000_000:06d}"
    for _ in range(3):
        with pytest.raises(DomainError):
            otp_services.verify(payment_id, wrong)
    # When a fourth lands while a fresh code is being sent (just before the send writes it)
    fourth = run_meanwhile(otp_services.otp.codes, "put", lambda: otp_services.verify(payment_id, wrong), before=True)
    otp_services.otp.send(otp_services.payments.get(otp_services.user_id, payment_id))
    assert isinstance(fourth[0], DomainError)
    assert fourth[0].extra["attempts_remaining"] == 1
    # Then the resend did not give that guess back: the fifth wrong one cancels the payment
    with pytest.raises(DomainError) as fifth:
        otp_services.verify(payment_id, "000000" if last_code() != "000000" else "000001")
    assert (status_of(fifth.value), fifth.value.code) == (429, "too_many_attempts")
    assert otp_services.status(payment_id) == "canceled"


@pytest.mark.parametrize("conflicts", [1, 4])
def test_a_right_code_whose_use_meets_a_concurrent_write_is_tried_again(
    stack: RunningStack, otp_services: InProcessOtp, monkeypatch: pytest.MonkeyPatch, conflicts: int
) -> None:
    from payments_core.payments import otp_repository

    # Given a large payment, and DynamoDB canceling the transaction that uses its code for another
    # write to the code or the day's budget at that moment (moto never does)
    payment_id = otp_services.create()
    client = ConflictingTransactions(dynamodb_client(), conflicts)
    monkeypatch.setattr(otp_repository, "dynamodb_client", lambda: client)
    # When the right code is sent, then it is read and tried again, and the payment is confirmed once
    assert otp_services.verify(payment_id, last_code())["body"]["status"] == "succeeded"
    assert client.tries == conflicts + 1
    assert [pi["status"] for pi in stripe_intents_for(stack, payment_id)] == ["succeeded"]


def test_a_right_code_whose_use_keeps_meeting_writes_is_asked_to_come_back(
    otp_services: InProcessOtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments import otp_repository

    # Given a large payment whose code's transaction DynamoDB cancels at every try
    payment_id = otp_services.create()
    code = last_code()
    monkeypatch.setattr(otp_repository, "dynamodb_client", lambda: ConflictingTransactions(dynamodb_client(), 99))
    # When the right code is sent, then the client is asked to retry shortly (never a 500), nothing moved
    with pytest.raises(DomainError) as busy:
        otp_services.verify(payment_id, code)
    assert (status_of(busy.value), busy.value.code) == (409, "request_in_progress")
    assert otp_services.status(payment_id) == "requires_otp"
    # And once the table answers again, the same code confirms it
    monkeypatch.setattr(otp_repository, "dynamodb_client", dynamodb_client)
    assert otp_services.verify(payment_id, code)["body"]["status"] == "succeeded"


def test_a_send_whose_code_meets_a_concurrent_write_is_tried_again_and_counted_once(
    otp_services: InProcessOtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments import otp_repository

    # Given a large payment (its first code sent), and DynamoDB canceling the next send's transaction once
    payment_id = otp_services.create()
    first = last_code()
    client = ConflictingTransactions(dynamodb_client(), 1)
    monkeypatch.setattr(otp_repository, "dynamodb_client", lambda: client)
    # When a fresh code is asked for, then it is stored on the second try and emailed
    otp_services.otp.send(otp_services.get(payment_id))
    assert client.tries == 2
    # And the day counts two codes sent, not three; the fresh one confirms the payment
    day = otp_services.otp.codes.day(otp_services.user_id, otp_services.now[0] // (24 * 3600))
    assert day["sends"] == 2
    fresh = last_code()
    if fresh != first:  # one time in a million the fresh code equals the old one
        with pytest.raises(DomainError) as stale:
            otp_services.verify(payment_id, first)
        assert (status_of(stale.value), stale.value.code) == (400, "invalid_otp")
    assert otp_services.verify(payment_id, fresh)["body"]["status"] == "succeeded"


def test_a_wrong_guess_meeting_a_concurrent_write_is_tried_again_and_counted_once(
    otp_services: InProcessOtp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.payments import otp_repository

    # Given a large payment, and DynamoDB canceling the transaction that counts a wrong guess once
    payment_id = otp_services.create()
    wrong = f"{(int(last_code()) + 1) % 1_000_000:06d}"
    client = ConflictingTransactions(dynamodb_client(), 1)
    monkeypatch.setattr(otp_repository, "dynamodb_client", lambda: client)
    # When a wrong code is sent, then it is read and counted again, and answered with the exact count
    with pytest.raises(DomainError) as error:
        otp_services.verify(payment_id, wrong)
    assert (status_of(error.value), error.value.extra) == (400, {"attempts_remaining": 4})
    assert client.tries == 2
    # And the payment's attempts and the day's wrong codes each moved by one
    assert int(code_item(otp_services, payment_id)["attempts"]) == 1
    assert otp_services.otp.codes.day(otp_services.user_id, otp_services.now[0] // (24 * 3600))["guesses"] == 1


def test_once_the_days_wrong_codes_are_used_up_a_right_and_a_wrong_guess_look_alike(
    otp_services: InProcessOtp, request: pytest.FixtureRequest
) -> None:
    from payments_core import keys

    # Given a large payment, and a user whose 20 wrong codes of the day are used up
    payment_id = otp_services.create()
    right = last_code()
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    day = otp_services.now[0] // (24 * 3600)
    dynamodb_client().put_item(
        TableName="AppTable", Item=to_item({**keys.otp_day(otp_services.user_id, day), "guesses": 20})
    )
    calls: list[str] = []
    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name), unique_id="otp-calls")
    request.addfinalizer(lambda: events.unregister("before-call.dynamodb", unique_id="otp-calls"))

    def answer(code: str) -> tuple[Any, ...]:
        calls.clear()
        with pytest.raises(DomainError) as refused:
            otp_services.verify(payment_id, code)
        return status_of(refused.value), refused.value.code, refused.value.retry_after, list(calls)

    # When the right code and a wrong one are sent, then both get the same 429 after the same calls
    # (nothing a guesser could time tells them apart), and neither was counted
    assert answer(right) == answer(wrong)
    assert answer(wrong)[:2] == (429, "rate_limited")
    assert calls == ["GetItem", "GetItem", "TransactWriteItems"]
    assert int(code_item(otp_services, payment_id)["attempts"]) == 0
    assert otp_services.status(payment_id) == "requires_otp"


def test_a_code_item_keeps_the_version_the_release_before_conditions_on(otp_services: InProcessOtp) -> None:
    # Given a large payment whose code was sent, then guessed at once (wrongly)
    payment_id = otp_services.create()
    assert int(code_item(otp_services, payment_id)["version"]) == 1
    with pytest.raises(DomainError):
        otp_services.verify(payment_id, f"{(int(last_code()) + 1) % 1_000_000:06d}")
    assert int(code_item(otp_services, payment_id)["version"]) == 2
    # When the release before this one (beside it during a canary deploy) counts an attempt as it did,
    # then its write applies: it moved the version on every write and conditioned its sends on it
    dynamodb_client().update_item(
        TableName="AppTable",
        Key=to_item({"PK": f"USER#{otp_services.user_id}", "SK": f"OTP#{payment_id}"}),
        UpdateExpression="SET attempts = attempts + :one, version = version + :one",
        ConditionExpression="attribute_exists(PK) AND attempts < :max AND attribute_not_exists(used_at)",
        ExpressionAttributeValues=to_item({":one": 1, ":max": 5}),
    )
    assert (
        int(code_item(otp_services, payment_id)["attempts"]),
        int(code_item(otp_services, payment_id)["version"]),
    ) == (2, 3)


def code_item(otp_services: InProcessOtp, payment_id: str) -> dict[str, Any]:
    item = otp_services.otp.codes.load(otp_services.user_id, payment_id)
    assert item is not None
    return item


def test_a_wrong_guess_counted_meanwhile_is_read_again_so_the_count_answered_is_exact(
    otp_services: InProcessOtp,
) -> None:
    # Given a large payment, and two wrong guesses: the second lands just before the first is counted
    payment_id = otp_services.create()
    wrong = f"{(int(last_code()) + 1) % 1_000_000:06d}"
    second = run_meanwhile(
        otp_services.otp.codes, "count_wrong", lambda: otp_services.verify(payment_id, wrong), before=True
    )
    with pytest.raises(DomainError) as first:
        otp_services.verify(payment_id, wrong)
    # Then each is answered with the attempts left after it, not after what it read
    assert isinstance(second[0], DomainError)
    assert second[0].extra == {"attempts_remaining": 4}
    assert first.value.extra == {"attempts_remaining": 3}
    # And the fifth wrong one still cancels the payment
    for remaining in (2, 1):
        with pytest.raises(DomainError) as again:
            otp_services.verify(payment_id, wrong)
        assert again.value.extra == {"attempts_remaining": remaining}
    with pytest.raises(DomainError) as fifth:
        otp_services.verify(payment_id, wrong)
    assert (status_of(fifth.value), fifth.value.code) == (429, "too_many_attempts")
    assert otp_services.status(payment_id) == "canceled"


@pytest.mark.parametrize(("conflicts", "code"), [(1, "otp_not_required"), (3, "request_in_progress")])
def test_a_guess_after_use_meeting_a_transaction_is_tried_again_then_409_not_500(
    otp_services: InProcessOtp, monkeypatch: pytest.MonkeyPatch, conflicts: int, code: str
) -> None:
    from payments_core.payments import otp_repository

    # Given a payment whose code was used by a request still moving it on, and DynamoDB refusing the
    # single write that counts a guess at it while a transaction holds the user's day (moto never does)
    payment_id = otp_services.create()
    wrong = f"{(int(last_code()) + 1) % 1_000_000:06d}"
    dynamodb_client().update_item(
        TableName="AppTable",
        Key=to_item({"PK": f"USER#{otp_services.user_id}", "SK": f"OTP#{payment_id}"}),
        UpdateExpression="SET used_at = :now",
        ExpressionAttributeValues=to_item({":now": otp_services.now[0]}),
    )
    client = ConflictingWrites(dynamodb_client(), conflicts)
    monkeypatch.setattr(otp_repository, "dynamodb_client", lambda: client)
    # When a wrong code is sent, then a conflict or two is tried again and the guess answered; one that
    # persists is answered "retry shortly" (409 with Retry-After), never a 500
    with pytest.raises(DomainError) as answer:
        otp_services.verify(payment_id, wrong)
    assert (status_of(answer.value), answer.value.code) == (409, code)
    assert client.tries == min(conflicts + 1, 3)
    assert otp_services.status(payment_id) == "requires_otp"
