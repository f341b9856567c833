"""A page of payments is read whole or not answered: what DynamoDB leaves unread of a BatchGetItem
(``UnprocessedKeys``, under throttling; moto never leaves any) is read again after a backoff, and a
page still incomplete is a 503, never a short page whose cursor moves past the payments left out."""

from __future__ import annotations

from typing import Any

import pytest

from payments_core.errors import Unavailable
from payments_core.payments import repository as repository_module
from payments_core.payments.models import Change, Payment
from payments_core.payments.repository import PaymentRepository

USER = "usr_" + "b" * 12


def store(repository: PaymentRepository, count: int) -> list[str]:
    ids = []
    for n in range(count):
        created = f"2026-12-05T12:00:{n:02d}.000000Z"
        payment = Payment(
            payment_id=f"pay_{n:024d}",
            user_id=USER,
            status="succeeded",
            amount=1000 + n,
            currency="usd",
            payment_method="pm_card_visa",
            request_fingerprint="f" * 64,
            metadata={},
            created_at=created,
            updated_at=created,
        )
        assert repository.create(Change(payment, []))
        ids.append(payment.payment_id)
    return ids


class Throttled:
    """The DynamoDB client, whose BatchGetItem leaves all but the first key unread ``times`` times."""

    def __init__(self, client: Any, times: int) -> None:
        self.client, self.times, self.batches = client, times, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.batches += 1
        ((table, request),) = RequestItems.items()
        if self.times <= 0:
            return dict(self.client.batch_get_item(RequestItems=RequestItems))
        self.times -= 1
        read, left = request["Keys"][:1], request["Keys"][1:]
        if not left:  # one key left: throttled too
            read, left = [], request["Keys"]
        answer: dict[str, Any] = (
            dict(self.client.batch_get_item(RequestItems={table: {**request, "Keys": read}}))
            if read
            else {"Responses": {table: []}}
        )
        answer["UnprocessedKeys"] = {table: {**request, "Keys": left}}
        return answer


@pytest.fixture
def throttled(monkeypatch: pytest.MonkeyPatch) -> Any:
    def install(times: int) -> Throttled:
        client = Throttled(repository_module.dynamodb_client(), times)  # type: ignore[attr-defined]
        monkeypatch.setattr(repository_module, "dynamodb_client", lambda: client)
        monkeypatch.setattr(repository_module, "BATCH_GET_BACKOFF_SECONDS", 0.001)
        return client

    return install


@pytest.mark.usefixtures("aws")
def test_what_a_throttled_batch_left_unread_is_read_again(throttled: Any) -> None:
    # Given five payments, and DynamoDB leaving keys unread twice (throttled)
    repository = PaymentRepository("AppTable")
    ids = store(repository, 5)
    client = throttled(2)
    # When a page of them is read, then it holds every payment, newest first, after three batches
    items, _ = repository.list(USER, 5, None)
    assert [p.payment_id for p in items] == list(reversed(ids))
    assert client.batches == 3


@pytest.mark.usefixtures("aws")
def test_a_page_still_incomplete_after_the_backoff_is_503_not_a_short_page(throttled: Any) -> None:
    # Given DynamoDB leaving keys unread at every round
    repository = PaymentRepository("AppTable")
    store(repository, 3)
    client = throttled(100)
    # When a page is read, then the request is answered "retry shortly" (503), not with a page missing
    # payments whose cursor would skip them
    with pytest.raises(Unavailable) as busy:
        repository.list(USER, 3, None)
    assert busy.value.retry_after == 1
    assert client.batches == repository_module.BATCH_GET_ROUNDS
