"""Sign-up and sign-in: the rules (a unique email, argon2id, lock-out after five failures in 15
minutes, for known and unknown emails alike). The account items are kept by ``auth.repository``, which
these functions take as a collaborator (``store``; by default the repository on the settings' table).
"""

from __future__ import annotations

from typing import NamedTuple

from payments_core import clock
from payments_core.auth import passwords
from payments_core.auth.models import SigninRequest, SignupRequest, TokenOut, UserOut
from payments_core.auth.repository import AccountRepository, AccountStore
from payments_core.config import Settings, get_settings
from payments_core.errors import Conflict, TooManyRequests, Unauthenticated

LOCKOUT_FAILURES = 5
LOCKOUT_WINDOW_SECONDS = 15 * 60

INVALID_CREDENTIALS = Unauthenticated("invalid_credentials", "Email or password is wrong.")


def signup(request: SignupRequest, *, settings: Settings | None = None, store: AccountStore | None = None) -> UserOut:
    settings = settings or get_settings()
    store = store or AccountRepository(settings.table_name)
    user = UserOut(user_id=clock.new_id("usr"), email=request.email, created_at=clock.iso(clock.now()))
    if not store.create(user.model_dump(), passwords.hash_password(request.password)):
        raise Conflict("email_taken", "An account with this email already exists.")
    return user


class _LockState(NamedTuple):  # not a frozen dataclass: cheaper to create in init
    failures: int
    window_start: int

    def retry_after(self, now: int) -> int:
        """Seconds left in a lock-out, 0 when not locked."""
        window_end = self.window_start + LOCKOUT_WINDOW_SECONDS
        if self.failures >= LOCKOUT_FAILURES and now < window_end:
            return window_end - now
        return 0


def signin(
    request: SigninRequest, *, jwt_key: str, settings: Settings | None = None, store: AccountStore | None = None
) -> TokenOut:
    settings = settings or get_settings()
    store = store or AccountRepository(settings.table_name)
    now = clock.epoch_seconds()
    # Each attempt counts as a failure before its password is checked (a success then clears the
    # count), so however many guesses arrive at once, at most five are checked per window. The usual
    # case, an account with no window open, is counted and read in one write.
    opened = store.open_window(request.email, now=now, window_seconds=LOCKOUT_WINDOW_SECONDS)
    item = opened if opened is not None else store.sign_in_record(request.email)
    lock = _LockState(int(item.get("failures", 0)), int(item.get("window_start", 0)))
    account_exists = "user_id" in item
    in_window = lock.window_start > now - LOCKOUT_WINDOW_SECONDS
    if opened is None and (
        lock.retry_after(now)
        or not store.count_attempt(
            request.email,
            account_exists=account_exists,
            in_window=in_window,
            now=now,
            window_seconds=LOCKOUT_WINDOW_SECONDS,
            max_failures=LOCKOUT_FAILURES,
        )
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

    store.clear_failures(request.email)
    from payments_core.auth import tokens  # here, so sign-up never pays for importing PyJWT

    token = tokens.issue_token(str(item["user_id"]), key=jwt_key, settings=settings, issued_at=clock.now())
    return TokenOut(access_token=token, expires_in=settings.jwt_ttl_seconds)
