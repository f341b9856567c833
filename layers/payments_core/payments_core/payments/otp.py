"""One-time codes for large payments (NIST SP 800-63B, OWASP MFA cheat sheet).

A code is 6 digits from ``secrets``, lives 5 minutes, is used once, and is stored only as an HMAC
keyed with a pepper (a secret outside the table). ``USER#<user> / OTP#<payment>`` holds the hash,
its expiry, the attempts made and its last three send times (``otp_repository.OtpCodeStore``). A guess is
answered only once a conditional write has counted it as an attempt at that code (at most 5 made),
so however many guesses arrive at once, at most five are ever answered; the fifth wrong one cancels
the payment (``PaymentService.verify_code``).
Attempts count per payment, not per code, so re-sending does not buy more guesses; and opening more
payments does not either. A user's UTC day (``USER#<user> / OTPDAY#<day>``) holds two budgets across
all payments: ``MAX_WRONG_GUESSES`` wrong codes (one taken before a wrong guess is answered; a right
one is answered only while some are left, in the same transaction that uses the code) and
``MAX_SENDS_PER_DAY`` codes sent (one taken in the transaction that stores the code); either used up
answers ``429 rate_limited`` until the day ends. Without them, one holder
of a stolen token could open payment after payment and guess five times at each, or have us email
the account without end (and spend the SES quota every receipt depends on).
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Any, Literal

from payments_core import clock
from payments_core.currencies import format_amount
from payments_core.errors import OTP_EXPIRED, OTP_NOT_REQUIRED, BadRequest, Conflict, TooManyRequests
from payments_core.observability import logger
from payments_core.payments.leases import LEASE_SECONDS, PROVIDER_CALL_IN_PROGRESS
from payments_core.payments.models import Payment
from payments_core.payments.otp_repository import SENT, Budget, CodeStore, DailyCounter, FreshCode

CODE_TTL_SECONDS = 5 * 60
MAX_ATTEMPTS = 5
MAX_SENDS = len(SENT)  # per SEND_WINDOW_SECONDS: the store keeps a code's last three send times
SEND_WINDOW_SECONDS = 15 * 60
CODE_ITEM_TTL_SECONDS = 7 * 24 * 3600
# NIST SP 800-63B 5.2.2: at most 100 failed attempts per account; ours is far below: four payments'
# worth a day, so a guesser's odds stay under 2 in 100,000 a day.
MAX_WRONG_GUESSES = 20
# Ten payments' worth of codes, each sent three times over: past it, the account is being used to
# send mail, not to pay.
MAX_SENDS_PER_DAY = 30
DAY_SECONDS = 24 * 3600
SENDS_USED_UP = "Too many codes sent today."
WRONG_USED_UP = "Too many wrong codes."

# Emails a user: (user_id, subject, body) -> whether the account exists to receive it.
Mailer = Callable[[str, str, str], bool]


class OtpService:
    """Sends codes and checks guesses. Knows nothing of the provider: sending needs neither the
    payment service nor the Stripe key (which OtpSendFunction is not granted)."""

    def __init__(self, codes: CodeStore, *, pepper: str, mailer: Mailer) -> None:
        self.codes = codes
        self._pepper = pepper.encode()
        self._mailer = mailer

    def _hash(self, payment_id: str, code: str) -> str:
        return hmac.new(self._pepper, f"{payment_id}:{code}".encode(), hashlib.sha256).hexdigest()

    # --- send ------------------------------------------------------------------------------------
    def send(self, payment: Payment, *, first: bool = False) -> int:
        """Emails a fresh code (the previous one stops working); returns its expiry (epoch seconds)."""
        if payment.status != "requires_otp":
            raise OTP_NOT_REQUIRED
        for _ in range(5):
            now = clock.epoch_seconds()
            code = f"{secrets.randbelow(1_000_000):06d}"
            fresh = FreshCode(
                self._hash(payment.payment_id, code), now, now + CODE_TTL_SECONDS, now + CODE_ITEM_TTL_SECONDS
            )
            # Stored with one taken from the day's sends, or neither; not read first.
            sends = _budget(now, "sends", MAX_SENDS_PER_DAY)
            stored, held = self.codes.put(
                payment.user_id,
                payment.payment_id,
                fresh,
                only_if_none=first,
                sends_since=now - SEND_WINDOW_SECONDS,
                sends=sends,
            )
            if stored == "held" and held is not None:
                if first:
                    return int(held["expires_at"])  # a retried creation: the first code was already sent
                raise TooManyRequests(
                    "rate_limited",
                    "Too many codes sent for this payment. Try again later.",
                    retry_after=int(held[SENT[0]]) + SEND_WINDOW_SECONDS - now,
                )
            if stored == "used_up":
                raise self._used_up(now, sends, SENDS_USED_UP)
            if stored != "done":
                continue  # the write met another: try again
            self._email(payment, code)
            logger.info("one-time code sent", extra={"payment_id": payment.payment_id})
            return now + CODE_TTL_SECONDS
        raise Conflict("request_in_progress", "Another code is being sent.", retry_after=1)

    def refuse_if_out_of_sends(self, user_id: str) -> None:
        """Before a payment that needs a code is stored: ``429 rate_limited`` if the user's codes for
        the day are used up (a read; ``send`` claims one, so two creations at once may still store a
        payment whose code is refused: it waits, and the reconciler cancels it unless a retry sends it)."""
        now = clock.epoch_seconds()
        if int(self.codes.day(user_id, now // DAY_SECONDS).get("sends", 0)) >= MAX_SENDS_PER_DAY:
            raise self._out_of(now, SENDS_USED_UP)

    def _claim_daily(self, user_id: str, budget: Budget, message: str) -> None:
        """Takes one from the user's ``budget`` for today, or refuses."""
        if not self.codes.claim_daily(user_id, budget):
            raise self._used_up(clock.epoch_seconds(), budget, message)

    @staticmethod
    def _used_up(now: int, budget: Budget, message: str) -> TooManyRequests:
        logger.warning("one-time codes refused: the user's day budget is used up", extra={"budget": budget.counter})
        return OtpService._out_of(now, message)

    @staticmethod
    def _out_of(now: int, message: str) -> TooManyRequests:
        return TooManyRequests(
            "rate_limited", f"{message} Try again later.", retry_after=DAY_SECONDS - now % DAY_SECONDS
        )

    def _email(self, payment: Payment, code: str) -> None:
        amount = format_amount(payment.amount, payment.currency)  # as receipts show it: "750.00 USD"
        self._mailer(
            payment.user_id,
            "Your code to confirm a payment",
            f"Your code is {code}. It confirms payment {payment.payment_id} of {amount} and expires in 5 minutes.",
        )

    # --- check -----------------------------------------------------------------------------------
    def check(self, payment: Payment, code: str) -> Literal["right", "too_many"]:
        """One guess at a payment waiting for its code: "right" (the code is now used: the caller moves
        the payment on), "too_many" (the caller cancels it), or an error to answer.

        The guess is compared with the code as read, but answered only once a conditional write has
        counted it as an attempt at that very code: however many guesses arrive at once, at most
        ``MAX_ATTEMPTS`` are ever answered. Either answer is one transaction of the same shape, the
        code's item and the user's day: a right guess uses the code while the day's wrong guesses are
        not used up (a check), a wrong one counts its attempt and takes one of them. So once they are
        used up, a right and a wrong guess make the same calls and get the same 429."""
        guess = self._hash(payment.payment_id, code)
        for _ in range(5):
            current = self.codes.load(payment.user_id, payment.payment_id)
            if current is None:  # no code was stored (its first send was cut short)
                raise OTP_EXPIRED
            now = clock.epoch_seconds()
            guesses = _budget(now, "guesses", MAX_WRONG_GUESSES)
            if "used_at" in current:
                return self._after_use(payment, current, guess, guesses)
            if int(current["attempts"]) >= MAX_ATTEMPTS:
                return "too_many"
            if now > int(current["expires_at"]):
                raise OTP_EXPIRED
            stored_hash = str(current["code_hash"])
            if hmac.compare_digest(stored_hash, guess):
                used = self.codes.use(
                    payment.user_id,
                    payment.payment_id,
                    stored_hash,
                    max_attempts=MAX_ATTEMPTS,
                    now=now,
                    guesses=guesses,
                )
                if used == "used_up":
                    raise self._used_up(now, guesses, WRONG_USED_UP)
                if used == "done":
                    return "right"
                continue  # the code changed meanwhile (a guess, a send, or this very code used): read again
            attempts = int(current["attempts"])
            counted = self.codes.count_wrong(
                payment.user_id, payment.payment_id, stored_hash, attempts=attempts, now=now, guesses=guesses
            )
            if counted == "used_up":
                raise self._used_up(now, guesses, WRONG_USED_UP)
            if counted != "done":
                continue  # the code changed meanwhile (another guess, a send, a use): read again
            if attempts + 1 >= MAX_ATTEMPTS:
                return "too_many"
            raise BadRequest(
                "invalid_otp", "The code is not right.", extra={"attempts_remaining": MAX_ATTEMPTS - attempts - 1}
            )
        raise Conflict("request_in_progress", "Another guess at this code is being checked.", retry_after=1)

    def _after_use(
        self, payment: Payment, current: dict[str, Any], guess: str, guesses: Budget
    ) -> Literal["right", "too_many"]:
        """A guess at a code already used while the payment still waits for one: the request that used
        it is moving it on, or died between the two writes; the same right code resumes it once that
        request cannot be alive (the lease's span), rather than leaving the payment waiting on a code no
        one can use. Telling right from wrong here takes one of the day's wrong guesses, given back
        when it was right."""
        self._claim_daily(payment.user_id, guesses, WRONG_USED_UP)
        if not hmac.compare_digest(str(current["code_hash"]), guess):
            raise OTP_NOT_REQUIRED  # a wrong guess after the right code: that request confirms the payment
        self._give_back(payment.user_id, guesses)
        if int(current["used_at"]) + LEASE_SECONDS > clock.epoch_seconds():
            raise PROVIDER_CALL_IN_PROGRESS
        return "right"

    def _give_back(self, user_id: str, budget: Budget) -> None:
        """Best effort: a budget not given back (the table throttled) costs the user one of the day's,
        never the answer."""
        try:
            self.codes.release_daily(user_id, budget.day, budget.counter)
        except Exception:
            logger.warning("one-time code budget not given back", extra={"budget": budget.counter}, exc_info=True)


def _budget(now: int, counter: DailyCounter, maximum: int) -> Budget:
    """The user's ``counter`` budget for the UTC day of ``now``."""
    day = now // DAY_SECONDS
    return Budget(day, counter, maximum, (day + 1) * DAY_SECONDS)
