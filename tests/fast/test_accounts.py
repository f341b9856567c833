"""Sign-up and sign-in rules on an in-memory account store: a unique email, the lock-out after five
failures in 15 minutes (for an email with no account too), a success clearing the count."""

from __future__ import annotations

import pytest

from payments_core import clock
from payments_core.auth import accounts
from payments_core.auth.models import SigninRequest, SignupRequest
from payments_core.config import Settings
from payments_core.errors import Conflict, TooManyRequests, Unauthenticated
from tests.fast.fakes import InMemoryAccounts

PASSWORD = "correct horse battery staple"
SETTINGS = Settings()
KEY = "k" * 32


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> InMemoryAccounts:
    now = [1_800_000_000]
    monkeypatch.setattr(clock, "epoch_seconds", lambda: now[0])
    return InMemoryAccounts()


def signup(store: InMemoryAccounts, email: str = "a@example.com") -> str:
    request = SignupRequest(email=email, password=PASSWORD)
    return accounts.signup(request, settings=SETTINGS, store=store).user_id


def signin(store: InMemoryAccounts, email: str = "a@example.com", password: str = PASSWORD) -> str:
    """The sign-in's outcome: "ok", "wrong" or "locked <seconds left>"."""
    try:
        accounts.signin(SigninRequest(email=email, password=password), jwt_key=KEY, settings=SETTINGS, store=store)
    except Unauthenticated:
        return "wrong"
    except TooManyRequests as locked:
        return f"locked {locked.retry_after}"
    return "ok"


def test_an_email_makes_one_account_however_it_is_written(store: InMemoryAccounts) -> None:
    user_id = signup(store)
    with pytest.raises(Conflict) as taken:
        signup(store, email="  A@Example.com ")
    assert taken.value.code == "email_taken"
    assert list(store.profiles) == [user_id]
    assert store.email_of(user_id) == "a@example.com"


@pytest.mark.parametrize("email", ["a@example.com", "nobody@example.com"])
def test_five_failures_lock_an_email_for_the_rest_of_their_window(
    store: InMemoryAccounts, monkeypatch: pytest.MonkeyPatch, email: str
) -> None:
    signup(store)
    start = clock.epoch_seconds()
    assert [signin(store, email, "wrong password") for _ in range(5)] == ["wrong"] * 5
    # Locked even with the right password, for an account and for an email with none alike.
    assert signin(store, email) == "locked 900"
    monkeypatch.setattr(clock, "epoch_seconds", lambda: start + 600)
    assert signin(store, email) == "locked 300"
    monkeypatch.setattr(clock, "epoch_seconds", lambda: start + 901)
    assert signin(store, email) == ("ok" if email == "a@example.com" else "wrong")


def test_a_success_clears_the_count_and_a_lock_out_is_per_email(store: InMemoryAccounts) -> None:
    signup(store)
    signup(store, email="b@example.com")
    for _ in range(4):
        signin(store, password="wrong password")
    assert signin(store) == "ok"
    assert "failures" not in store.emails["a@example.com"]
    for _ in range(5):
        signin(store, email="b@example.com", password="wrong password")
    assert signin(store, email="b@example.com").startswith("locked")
    assert signin(store) == "ok"


def test_signing_up_an_email_that_had_failures_gives_a_clean_account(store: InMemoryAccounts) -> None:
    for _ in range(3):
        signin(store, password="wrong password")
    assert store.emails["a@example.com"]["failures"] == 3
    signup(store)
    assert {"failures", "window_start", "ttl"}.isdisjoint(store.emails["a@example.com"])
    assert signin(store) == "ok"
