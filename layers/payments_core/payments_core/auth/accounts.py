"""Sign-up and sign-in: the logic, and the account items it keeps in the application table.

Keys: ``EMAIL#<email> / EMAIL`` holds the user id, the password hash and the lock-out counters, so a
sign-in costs one read and two writes (the attempt counted before the password is checked, and
cleared after a success); ``USER#<id> / PROFILE`` holds the profile. Failed sign-ins for an email that
has no account are counted on a placeholder item with a TTL, so lock-out looks the same whether the
email exists or not.
"""

from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from payments_core import clock, keys
from payments_core.auth import passwords
from payments_core.auth.models import SigninRequest, SignupRequest, TokenOut, UserOut
from payments_core.aws import dynamodb_client
from payments_core.config import Settings, get_settings
from payments_core.dynamo import cancellation_reasons, from_item, is_condition_failure, to_item
from payments_core.errors import Conflict, TooManyRequests, Unauthenticated

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW_SECONDS = 15 * 60

INVALID_CREDENTIALS = Unauthenticated("invalid_credentials", "Email or password is wrong.")


def email_key(email: str) -> dict[str, str]:
    return keys.email(email)


def user_key(user_id: str) -> dict[str, str]:
    return keys.profile(user_id)


def signup(request: SignupRequest, *, settings: Settings | None = None) -> UserOut:
    settings = settings or get_settings()
    user = UserOut(user_id=clock.new_id("usr"), email=request.email, created_at=clock.iso(clock.now()))
    password_hash = passwords.hash_password(request.password)
    try:
        dynamodb_client().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": settings.table_name,
                        "Item": to_item({**email_key(user.email), **user.model_dump(), "password_hash": password_hash}),
                        # A lock-out placeholder (no user_id) may be overwritten; a real account may not.
                        "ConditionExpression": "attribute_not_exists(user_id)",
                    }
                },
                {
                    "Put": {
                        "TableName": settings.table_name,
                        "Item": to_item({**user_key(user.user_id), **user.model_dump()}),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    except ClientError as error:
        if cancellation_reasons(error)[:1] == ["ConditionalCheckFailed"]:
            raise Conflict("email_taken", "An account with this email already exists.") from None
        raise
    return user


@dataclass(frozen=True)
class _LockState:
    failures: int
    window_start: int

    def retry_after(self, now: int) -> int:
        """Seconds left in a lock-out, 0 when not locked."""
        window_end = self.window_start + LOCKOUT_WINDOW_SECONDS
        if self.failures >= LOCKOUT_FAILURES and now < window_end:
            return window_end - now
        return 0


def signin(request: SigninRequest, *, jwt_key: str, settings: Settings | None = None) -> TokenOut:
    settings = settings or get_settings()
    now = clock.epoch_seconds()
    response = dynamodb_client().get_item(
        TableName=settings.table_name, Key=to_item(email_key(request.email)), ConsistentRead=True
    )
    item = from_item(response["Item"]) if "Item" in response else {}
    lock = _LockState(int(item.get("failures", 0)), int(item.get("window_start", 0)))
    account_exists = "user_id" in item
    # Each attempt counts as a failure before its password is checked (a success then clears the
    # count), so however many guesses arrive at once, at most five are checked per window.
    in_window = lock.window_start > now - LOCKOUT_WINDOW_SECONDS
    if lock.retry_after(now) or not _claim_attempt(
        request.email, account_exists=account_exists, in_window=in_window, now=now, settings=settings
    ):
        # Locked, maybe by guesses that landed after our read: the rest of the window we saw, or a new one.
        window_left = lock.window_start + LOCKOUT_WINDOW_SECONDS - now if in_window else LOCKOUT_WINDOW_SECONDS
        raise TooManyRequests(
            "rate_limited",
            "Too many failed sign-ins. Try again later.",
            retry_after=window_left,
        )

    if account_exists:
        valid = passwords.verify_password(str(item["password_hash"]), request.password)
    else:
        passwords.burn_verification(request.password)
        valid = False
    if not valid:
        raise INVALID_CREDENTIALS

    _reset_failures(request.email, settings=settings)
    from payments_core.auth import tokens  # here, so sign-up never pays for importing PyJWT

    token = tokens.issue_token(str(item["user_id"]), key=jwt_key, settings=settings, issued_at=clock.now())
    return TokenOut(access_token=token, expires_in=settings.jwt_ttl_seconds)


def _claim_attempt(email: str, *, account_exists: bool, in_window: bool, now: int, settings: Settings) -> bool:
    """Counts one attempt as a failure atomically, inside the current window (while it holds fewer
    than five) or opening a new one; False when the account is locked out. ``in_window``: what our
    read saw, so the first write tried is the one that usually applies."""
    ownership = "attribute_exists(user_id)" if account_exists else "attribute_not_exists(user_id)"
    expiry = {} if account_exists else {":ttl": now + LOCKOUT_WINDOW_SECONDS}
    set_ttl = "" if account_exists else ", #ttl = :ttl"
    names = {"#failures": "failures"} | ({} if account_exists else {"#ttl": "ttl"})
    cutoff = now - LOCKOUT_WINDOW_SECONDS
    attempts = [
        (
            "SET #failures = #failures + :one" + set_ttl,
            f"{ownership} AND window_start > :cutoff AND #failures < :max",
        ),
        (
            "SET #failures = :one, window_start = :now" + set_ttl,
            f"{ownership} AND (attribute_not_exists(window_start) OR window_start <= :cutoff)",
        ),
    ]
    if not in_window:
        attempts.reverse()
    # The two conditions cover every state but a lock-out; a race only sends us round again. If an
    # unknown email is signed up meanwhile, both fail and the new account starts with a clean slate.
    for _ in range(3):
        for update, condition in attempts:
            values = {":one": 1, ":cutoff": cutoff, **expiry}
            values |= {":now": now} if ":now" in update else {":max": LOCKOUT_FAILURES}
            try:
                dynamodb_client().update_item(
                    TableName=settings.table_name,
                    Key=to_item(email_key(email)),
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=to_item(values),
                )
                return True
            except ClientError as error:
                if not is_condition_failure(error):
                    raise
    return False


def _reset_failures(email: str, *, settings: Settings) -> None:
    dynamodb_client().update_item(
        TableName=settings.table_name,
        Key=to_item(email_key(email)),
        UpdateExpression="REMOVE failures, window_start",
        ConditionExpression="attribute_exists(user_id)",
    )
