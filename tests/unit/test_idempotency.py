"""The same Idempotency-Key while the first request still runs: wait for it, else 409 with Retry-After."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext

from devstack.lambda_events import LocalLambdaContext
from payments_core import idempotency
from payments_core.api import status_of
from payments_core.errors import DomainError
from payments_core.idempotency import run_once
from payments_core.idempotency_keys import Outcome

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture(autouse=True)
def fresh_runner() -> Iterator[None]:
    idempotency._runner.cache_clear()  # its persistence layer holds the moto client of another test
    yield
    idempotency._runner.cache_clear()


def same_request(operation: Any) -> tuple[Outcome, bool]:
    return run_once(
        user_id="usr_1",
        route="POST /payments",
        key="key-1",
        body={"amount": 2500},
        operation=operation,
        context=cast(LambdaContext, LocalLambdaContext("CreatePaymentFunction", timeout_seconds=30)),
    )


def never(*_: Any) -> Outcome:
    raise AssertionError("the operation ran a second time")


def start_slow_first(release: threading.Event) -> tuple[threading.Thread, dict[str, Any]]:
    started, result = threading.Event(), dict[str, Any]()

    def slow() -> Outcome:
        started.set()
        release.wait(10)
        return {"status": 201, "body": {"payment_id": "pay_1"}}

    thread = threading.Thread(target=lambda: result.update(first=same_request(slow)))
    thread.start()
    assert started.wait(10)
    return thread, result


def test_a_retry_while_the_first_runs_waits_and_gets_the_first_answer_replayed() -> None:
    # Given a first request that finishes half a second after its retry arrives
    release = threading.Event()
    thread, result = start_slow_first(release)
    threading.Timer(0.5, release.set).start()
    # When the retry arrives, Then it waits and replays the first answer without running again
    outcome, replayed = same_request(never)
    thread.join()
    assert (outcome, replayed) == (result["first"][0], True)


def test_a_retry_while_the_first_still_runs_after_the_wait_is_409_with_retry_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from payments_core import idempotency_keys

    monkeypatch.setattr(idempotency_keys, "IN_PROGRESS_WAIT_SECONDS", 0.3)
    release = threading.Event()
    thread, result = start_slow_first(release)
    try:
        # When the retry outwaits its patience, Then it is told to come back, and nothing ran twice
        with pytest.raises(DomainError) as raised:
            same_request(never)
        assert (status_of(raised.value), raised.value.code) == (409, "request_in_progress")
        assert raised.value.retry_after == 1
    finally:
        release.set()
        thread.join()
    # And once the first has finished, the same request is its replay
    assert same_request(never) == (result["first"][0], True)
