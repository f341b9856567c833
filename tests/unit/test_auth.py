"""Sign-up, sign-in and the bearer-token authorizer, on moto with the template's own table."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import authorizer_handler
import jwt
import pytest
import signin_handler
import signup_handler
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from payments_core import clock
from payments_core.aws import dynamodb_client
from tests.conftest import Invoker, LogSink
from tests.dynamo_faults import ConflictingTransactions

PASSWORD = "correct horse battery staple"
SIGNUP = ("POST", "/auth/signup")
SIGNIN = ("POST", "/auth/signin")

pytestmark = pytest.mark.usefixtures("aws")

# Every password, token and hash the suite produces, scanned for in the log at the end.
SEEN_SECRETS: set[str] = set()


def signup(invoke: Invoker, email: str = "a@example.com", password: str = PASSWORD) -> tuple[int, Any]:
    SEEN_SECRETS.add(password)
    status, _, body = invoke(signup_handler, *SIGNUP, body={"email": email, "password": password})
    return status, body


def signin(invoke: Invoker, email: str = "a@example.com", password: str = PASSWORD) -> tuple[int, dict[str, str], Any]:
    SEEN_SECRETS.add(password)
    status, headers, body = invoke(signin_handler, *SIGNIN, body={"email": email, "password": password})
    if status == 200:
        SEEN_SECRETS.add(body["access_token"])
    return status, headers, body


def without_request_id(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "error": {k: v for k, v in body["error"].items() if k != "request_id"}}


# --- sign-up ------------------------------------------------------------------------------------


def test_signup_creates_account_with_normalised_email(invoke: Invoker, log_sink: LogSink) -> None:
    # Given / When
    status, body = signup(invoke, email="  Alice@Example.COM ")
    # Then
    assert status == 201
    assert body["email"] == "alice@example.com"
    assert body["user_id"].startswith("usr_")
    assert body["created_at"].endswith("Z")
    assert set(body) == {"user_id", "email", "created_at"}


def test_signup_stores_an_argon2id_hash_at_owasp_parameters(invoke: Invoker) -> None:
    signup(invoke)
    item = dynamodb_client().get_item(
        TableName="AppTable", Key={"PK": {"S": "EMAIL#a@example.com"}, "SK": {"S": "EMAIL"}}
    )
    stored = item["Item"]["password_hash"]["S"]
    SEEN_SECRETS.add(stored)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in str(item)


def test_signup_twice_with_the_same_email_is_a_conflict(invoke: Invoker) -> None:
    assert signup(invoke)[0] == 201
    status, body = signup(invoke, email="A@example.com ", password="another password!")
    assert status == 409
    assert body["error"]["code"] == "email_taken"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com", "password": "x" * 129}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": PASSWORD, "admin": True}, "admin"),
        ({"email": 5, "password": PASSWORD}, "email"),
    ],
)
def test_signup_rejects_invalid_input_without_echoing_it(invoke: Invoker, body: dict[str, Any], field: str) -> None:
    status, _, answer = invoke(signup_handler, *SIGNUP, body=body)
    assert status == 422
    assert answer["error"]["code"] == "validation_error"
    assert field in [detail["field"] for detail in answer["error"]["details"]]
    assert str(body.get("password", "\0")) not in str(answer)
    assert answer["error"]["request_id"]


@pytest.mark.parametrize(
    "email",
    [
        "a@b@example.com",
        "<script>@example.com",
        "a..b@example.com",
        ".a@example.com",
        "a.@example.com",
        "a@-example.com",
        "a@example..com",
        "ünï@example.com",
        "a@exämple.com",
        "a\t@example.com",
        "a@example.c",
        "a@b,c.com",
        "l" * 65 + "@example.com",
    ],
)
def test_signup_refuses_an_address_no_code_or_receipt_could_reach(invoke: Invoker, email: str) -> None:
    # When someone signs up with an address SES cannot send to (codes and receipts go there)
    status, _, answer = invoke(signup_handler, *SIGNUP, body={"email": email, "password": PASSWORD})
    # Then it is refused up front, not an account whose large payments could never be confirmed
    assert status == 422
    assert [detail["field"] for detail in answer["error"]["details"]] == ["email"]


@pytest.mark.parametrize(
    ("email", "stored"),
    [
        (" Ada.Lovelace+tag@Example.COM ", "ada.lovelace+tag@example.com"),
        ("o'brien@example.co.uk", "o'brien@example.co.uk"),
        ("x@sub-domain.example.io", "x@sub-domain.example.io"),
        ("a@xn--bcher-kva.example", "a@xn--bcher-kva.example"),
    ],
)
def test_signup_takes_deliverable_addresses(invoke: Invoker, email: str, stored: str) -> None:
    status, _, answer = invoke(signup_handler, *SIGNUP, body={"email": email, "password": PASSWORD})
    assert (status, answer["email"]) == (201, stored)


def test_signin_with_an_address_sign_up_would_refuse_is_just_wrong_credentials(invoke: Invoker) -> None:
    # Sign-in only normalises: an account made under an older rule still signs in, and an address
    # that cannot have an account is answered like any unknown one.
    status, _, answer = invoke(signin_handler, *SIGNIN, body={"email": "ünï@example.com", "password": PASSWORD})
    assert (status, answer["error"]["code"]) == (401, "invalid_credentials")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "Body must be a JSON object; it is empty."),
        ("not json", "Body must be valid JSON."),
        ('{"email": "a@example.com",', "Body must be valid JSON."),
        ("[1, 2]", "Body must be a JSON object."),
        ('"text"', "Body must be a JSON object."),
    ],
)
def test_signup_says_why_a_body_is_not_a_json_object(invoke: Invoker, raw: str, message: str) -> None:
    status, _, answer = invoke(signup_handler, *SIGNUP, body=raw)
    assert status == 422
    assert answer["error"]["details"] == [{"field": "body", "message": message}]


# --- sign-in ------------------------------------------------------------------------------------


def test_signin_returns_a_bearer_token_for_the_account(invoke: Invoker) -> None:
    _, user = signup(invoke)
    status, _, body = signin(invoke, email=" A@EXAMPLE.com")
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    verdict = authorizer_handler.authorize({"headers": {"Authorization": f"Bearer {body['access_token']}"}})
    assert verdict["isAuthorized"] is True
    assert verdict["context"]["user_id"] == user["user_id"]


def test_signin_costs_two_writes_on_success(invoke: Invoker) -> None:
    signup(invoke)
    calls: list[str] = []
    dynamodb_client().meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    assert signin(invoke)[0] == 200
    # The attempt counted before the password is checked (the write returns the account item), and
    # the count cleared.
    assert calls == ["UpdateItem", "UpdateItem"]


def test_signin_inside_an_open_window_reads_then_counts(invoke: Invoker) -> None:
    # Given a failed attempt: a window is open with one failure
    signup(invoke)
    assert signin(invoke, password="wrong-password-123")[0] == 401
    calls: list[str] = []
    dynamodb_client().meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    # When the right password comes next, it is still counted before it is checked
    assert signin(invoke)[0] == 200
    # Then the one-write path was refused (a window is open), so the item is read and the attempt
    # counted inside the window, then the count cleared
    assert calls == ["UpdateItem", "GetItem", "UpdateItem", "UpdateItem"]


def test_unknown_email_and_wrong_password_look_the_same(invoke: Invoker) -> None:
    signup(invoke)
    timings: dict[str, list[float]] = {"unknown": [], "wrong": []}
    answers = {}
    cases = [("unknown", "nobody@example.com", PASSWORD), ("wrong", "a@example.com", "wrong pw 123")]
    for _ in range(3):  # interleaved, medians compared: robust to a busy machine
        for case, email, password in cases:
            start = time.perf_counter()
            status, _headers, body = signin(invoke, email=email, password=password)
            timings[case].append(time.perf_counter() - start)
            answers[case] = (status, without_request_id(body))
    assert answers["unknown"] == answers["wrong"]
    assert answers["unknown"][0] == 401
    assert answers["unknown"][1]["error"]["code"] == "invalid_credentials"
    # Both paths verify one argon2 hash: within a factor of 3, not the ~100x of a skipped hash.
    ratio = statistics.median(timings["unknown"]) / statistics.median(timings["wrong"])
    assert 1 / 3 < ratio < 3


@pytest.mark.parametrize("email", ["a@example.com", "nobody@example.com"])
def test_five_failures_lock_the_account_for_the_rest_of_the_window(
    invoke: Invoker, monkeypatch: pytest.MonkeyPatch, email: str
) -> None:
    signup(invoke)
    start = clock.epoch_seconds()
    monkeypatch.setattr(clock, "epoch_seconds", lambda: int(start))
    for _ in range(5):
        assert signin(invoke, email=email, password="wrong password")[0] == 401
    # Locked, even with the right password, for known and unknown emails alike.
    status, headers, body = signin(invoke, email=email)
    assert status == 429
    assert body["error"]["code"] == "rate_limited"
    assert headers["retry-after"] == str(15 * 60)
    # Ten minutes later it is still locked, for the rest of the window only.
    monkeypatch.setattr(clock, "epoch_seconds", lambda: int(start + 600))
    assert signin(invoke, email=email)[1]["retry-after"] == "300"
    # After the window it opens again.
    monkeypatch.setattr(clock, "epoch_seconds", lambda: int(start + 901))
    expected = 200 if email == "a@example.com" else 401
    assert signin(invoke, email=email)[0] == expected


def test_guesses_that_arrive_together_get_no_more_password_checks_than_guesses_one_by_one(
    invoke: Invoker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from payments_core.api import status_of
    from payments_core.auth import accounts, passwords
    from payments_core.auth.models import SigninRequest
    from payments_core.errors import DomainError

    # Given an account, and 19 wrong guesses that arrive while the first wrong guess is being checked
    signup(invoke)
    real_verify = passwords.verify_password
    checks: list[int] = []
    answers: list[int] = []

    def guess(password: str) -> None:
        try:
            accounts.signin(SigninRequest(email="a@example.com", password=password), jwt_key="k" * 32)
            answers.append(200)
        except DomainError as error:
            answers.append(status_of(error))

    def verify(stored: str, password: str) -> bool:
        checks.append(1)
        if len(checks) == 1:
            for _ in range(19):
                guess("wrong password")
        return real_verify(stored, password)

    monkeypatch.setattr(passwords, "verify_password", verify)
    guess("wrong password")
    # Then only five passwords were checked, and the account is locked even for the right one
    assert len(checks) == 5
    assert sorted(answers) == [401] * 5 + [429] * 15
    assert signin(invoke)[0] == 429


def test_lockout_is_per_account(invoke: Invoker) -> None:
    signup(invoke)
    signup(invoke, email="b@example.com")
    for _ in range(5):
        signin(invoke, email="b@example.com", password="wrong password")
    assert signin(invoke, email="b@example.com")[0] == 429
    assert signin(invoke)[0] == 200


def test_a_success_resets_the_consecutive_failure_count(invoke: Invoker) -> None:
    signup(invoke)
    for _ in range(4):
        signin(invoke, password="wrong password")
    assert signin(invoke)[0] == 200
    for _ in range(4):
        signin(invoke, password="wrong password")
    assert signin(invoke)[0] == 200


def test_signing_up_an_email_that_had_failures_gives_a_clean_account(invoke: Invoker) -> None:
    for _ in range(3):
        signin(invoke, password="wrong password")
    assert signup(invoke)[0] == 201
    item = dynamodb_client().get_item(
        TableName="AppTable", Key={"PK": {"S": "EMAIL#a@example.com"}, "SK": {"S": "EMAIL"}}
    )
    assert "ttl" not in item["Item"]
    assert "failures" not in item["Item"]


# --- tokens -------------------------------------------------------------------------------------


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {
        "sub": "usr_1",
        "iat": now,
        "exp": now + timedelta(minutes=15),
        "iss": "payments-api",
        "aud": "payments-clients",
        "jti": "j1",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _key() -> str:
    import os

    return os.environ["JWT_SECRET"]


def _rsa_token() -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_claims(), private, algorithm="RS256")


def _hs_token_signed_with_public_key() -> str:
    # The classic confusion: HMAC keyed with an RSA public key the attacker knows.
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    header = jwt.utils.base64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    payload = jwt.utils.base64url_encode(json.dumps(_claims(), default=str).encode())
    import hashlib
    import hmac

    signature = hmac.new(pem, header + b"." + payload, hashlib.sha256).digest()
    return b".".join([header, payload, jwt.utils.base64url_encode(signature)]).decode()


def _tampered() -> str:
    token = jwt.encode(_claims(), _key(), algorithm="HS256")
    header, _payload, signature = token.split(".")
    forged = jwt.utils.base64url_encode(json.dumps(_claims(sub="usr_victim"), default=str).encode())
    return f"{header}.{forged.decode()}.{signature}"


@pytest.mark.parametrize(
    "token_factory",
    [
        pytest.param(lambda: jwt.encode(_claims(), "", algorithm="none"), id="alg-none"),
        pytest.param(_rsa_token, id="rs256"),
        pytest.param(_hs_token_signed_with_public_key, id="hs-rs-confusion"),
        pytest.param(
            lambda: jwt.encode(_claims(exp=datetime.now(UTC) - timedelta(seconds=1)), _key(), algorithm="HS256"),
            id="expired",
        ),
        pytest.param(lambda: jwt.encode(_claims(aud="someone-else"), _key(), algorithm="HS256"), id="wrong-aud"),
        pytest.param(lambda: jwt.encode(_claims(iss="evil"), _key(), algorithm="HS256"), id="wrong-iss"),
        pytest.param(_tampered, id="tampered"),
        pytest.param(lambda: jwt.encode(_claims(exp=None), _key(), algorithm="HS256"), id="missing-exp"),
        pytest.param(lambda: jwt.encode(_claims(sub=None), _key(), algorithm="HS256"), id="missing-sub"),
        pytest.param(lambda: jwt.encode(_claims(), "k" * 40, algorithm="HS256"), id="other-key"),
        pytest.param(lambda: "not.a.jwt", id="garbage"),
    ],
)
def test_authorizer_rejects_bad_tokens(token_factory: Any, request: pytest.FixtureRequest) -> None:
    token = token_factory()
    result = authorizer_handler.authorize({"headers": {"authorization": f"Bearer {token}"}})
    assert result["context"]["user_id"] == ""
    # Only a token of ours past its expiry is told apart (its signature is checked before its expiry)
    expired = request.node.callspec.id == "expired"
    assert (result["context"].get("token") == "expired") == expired


def test_an_expired_token_is_told_it_expired_and_garbage_is_not(invoke: Invoker) -> None:
    import get_payments_handler

    expired = jwt.encode(_claims(exp=datetime.now(UTC) - timedelta(seconds=1)), _key(), algorithm="HS256")
    answers = {}
    for name, token in (("expired", expired), ("garbage", "not.a.jwt")):
        verdict = authorizer_handler.authorize({"headers": {"authorization": f"Bearer {token}"}})
        context = verdict["context"]
        got, _, body = invoke(get_payments_handler, "GET", "/payments", authorizer_context=context)
        answers[name] = (got, body["error"]["code"], body["error"]["message"])
    assert answers == {
        "expired": (401, "unauthorized", "The bearer token has expired: sign in again."),
        "garbage": (401, "unauthorized", "A valid bearer token is required."),
    }


def test_authorizer_accepts_a_valid_token_and_rejects_other_schemes() -> None:
    claims = _claims()
    token = jwt.encode(claims, _key(), algorithm="HS256")
    # The verdict carries the token's expiry: API Gateway may reuse it for 60 s, past that.
    assert authorizer_handler.authorize({"headers": {"Authorization": f"Bearer {token}"}})["context"] == {
        "user_id": "usr_1",
        "expires_at": int(claims["exp"].timestamp()),
    }
    assert authorizer_handler.authorize({"headers": {"Authorization": f"Basic {token}"}})["context"]["user_id"] == ""
    assert authorizer_handler.authorize({"headers": {}})["context"]["user_id"] == ""


@pytest.mark.parametrize(("seconds_left", "status"), [(1, 200), (0, 401), (-59, 401)])
def test_a_verdict_api_gateway_reuses_past_the_tokens_expiry_is_refused(
    invoke: Invoker, seconds_left: int, status: int
) -> None:
    # Given the authorizer's verdict for a token, as API Gateway reuses it for up to 60 s
    import get_payments_handler

    expires_at = clock.epoch_seconds() + seconds_left
    # When a request arrives with it
    got, _, body = invoke(get_payments_handler, "GET", "/payments", user_id="usr_1", token_expires_at=expires_at)
    # Then it is served only while the token is current, and refused in the envelope after
    assert got == status, body
    if status == 401:
        assert body["error"]["code"] == "unauthorized"
        assert body["error"]["message"] == "The bearer token has expired: sign in again."


def test_short_signing_keys_are_refused() -> None:
    from payments_core.auth import tokens
    from payments_core.config import get_settings

    with pytest.raises(ValueError, match="256 bits"):
        tokens.issue_token("usr_1", key="short", settings=get_settings(), issued_at=datetime.now(UTC))


# --- log hygiene ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def no_password_token_or_hash_in_the_modules_log(log_sink: LogSink) -> Iterator[None]:
    """The sink listens from the module's first test; once its last has run, in whatever order they
    ran, everything they logged is scanned for every secret they used (a failure: at its teardown)."""
    yield
    leaked = [secret for secret in SEEN_SECRETS if secret in log_sink.text]
    assert leaked == []
    assert "$argon2" not in log_sink.text
    assert "eyJ" not in log_sink.text  # no JWT of any kind


def test_no_password_token_or_hash_reached_the_log(invoke: Invoker, log_sink: LogSink) -> None:
    # One full round of its own so this test stands alone; the fixture above scans the whole module.
    signup(invoke, email="z@example.com")
    signin(invoke, email="z@example.com", password="wrong password")
    signin(invoke, email="z@example.com")
    assert log_sink.lines, "the sink must see the handlers' log lines"
    leaked = [secret for secret in SEEN_SECRETS if secret in log_sink.text]
    assert leaked == []
    assert "$argon2" not in log_sink.text
    assert "eyJ" not in log_sink.text  # no JWT of any kind


@pytest.mark.parametrize(("conflicts", "status"), [(1, 201), (2, 201), (3, 503)])
def test_a_sign_up_meeting_a_concurrent_sign_in_is_tried_again_then_503_not_500(
    invoke: Invoker, monkeypatch: pytest.MonkeyPatch, conflicts: int, status: int
) -> None:
    from payments_core.auth import repository

    # Given DynamoDB canceling the sign-up's transaction for a conflicting write (moto never does)
    client = ConflictingTransactions(dynamodb_client(), conflicts)
    monkeypatch.setattr(repository, "dynamodb_client", lambda: client)
    # When the address signs up, then a conflict or two is tried again and the account is made; one
    # that persists is answered "retry shortly" (503 with Retry-After), never a 500
    code, body = signup(invoke)
    assert code == status, body
    if status == 503:
        assert body["error"]["code"] == "temporarily_unavailable"
    assert client.tries == min(conflicts + 1, 3)
