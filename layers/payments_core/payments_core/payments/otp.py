"""One-time codes for large payments (NIST SP 800-63B, OWASP MFA cheat sheet).

A code is 6 digits from ``secrets``, lives 5 minutes, is used once, and is stored only as an HMAC
keyed with a pepper (a secret outside the table). ``USER#<user> / OTP#<payment>`` holds the hash,
its expiry, the attempts made and the recent send times (``otp_repository.OtpCodeStore``). Each guess first claims
an attempt with a conditional update (``attempts < 5``), so however many guesses arrive at once, at
most five are ever checked; the fifth wrong one cancels the payment (``PaymentService.verify_code``).
Attempts count per payment, not per code, so re-sending does not buy more guesses; and opening more
payments does not either. A user's UTC day (``USER#<user> / OTPDAY#<day>``) holds two budgets across
all payments: ``MAX_WRONG_GUESSES`` wrong codes (one claimed before a code is checked, given back when
it was right) and ``MAX_SENDS_PER_DAY`` codes sent (claimed before a code is stored, given back when
it was not); either used up answers ``429 rate_limited`` until the day ends. Without them, one holder
of a stolen token could open payment after payment and guess five times at each, or have us email
the account without end (and spend the SES quota every receipt depends on).
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Literal

from payments_core import clock
from payments_core.currencies import format_amount
from payments_core.errors import OTP_EXPIRED, OTP_NOT_REQUIRED, BadRequest, Conflict, TooManyRequests
from payments_core.observability import logger
from payments_core.payments.leases import LEASE_SECONDS, PROVIDER_CALL_IN_PROGRESS
from payments_core.payments.models import Payment
from payments_core.payments.otp_repository import CodeStore, DailyCounter

CODE_TTL_SECONDS = 5 * 60
MAX_ATTEMPTS = 5
MAX_SENDS = 3
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
        day: int | None = None  # the day whose send budget this send took one from
        stored = False
        try:
            for _ in range(5):
                current = self.codes.load(payment.user_id, payment.payment_id)
                if first and current is not None:
                    return int(current["expires_at"])  # a retried creation: the first code was already sent
                now = clock.epoch_seconds()
                recent = [int(t) for t in (current or {}).get("send_times", []) if int(t) > now - SEND_WINDOW_SECONDS]
                if len(recent) >= MAX_SENDS:
                    raise TooManyRequests(
                        "rate_limited",
                        "Too many codes sent for this payment. Try again later.",
                        retry_after=min(recent) + SEND_WINDOW_SECONDS - now,
                    )
                if day is None:
                    day = self._claim_daily(payment.user_id, "sends", MAX_SENDS_PER_DAY, SENDS_USED_UP)
                code = f"{secrets.randbelow(1_000_000):06d}"
                version = int((current or {}).get("version", 0))
                item = {
                    "code_hash": self._hash(payment.payment_id, code),
                    "expires_at": now + CODE_TTL_SECONDS,
                    "attempts": int((current or {}).get("attempts", 0)),
                    "send_times": [*recent, now],
                    "version": version + 1,
                    "ttl": now + CODE_ITEM_TTL_SECONDS,
                }
                if not self.codes.put(payment.user_id, payment.payment_id, item, expected_version=version):
                    continue  # a concurrent send: read again
                stored = True
                self._email(payment, code)
                logger.info("one-time code sent", extra={"payment_id": payment.payment_id})
                return now + CODE_TTL_SECONDS
            raise Conflict("request_in_progress", "Another code is being sent.", retry_after=1)
        finally:
            if day is not None and not stored:  # no code came of it: the budget is given back
                self._give_back(payment.user_id, day, "sends")

    def refuse_if_out_of_sends(self, user_id: str) -> None:
        """Before a payment that needs a code is stored: ``429 rate_limited`` if the user's codes for
        the day are used up (a read; ``send`` claims one, so two creations at once may still store a
        payment whose code is refused: it waits, and the reconciler cancels it unless a retry sends it)."""
        now = clock.epoch_seconds()
        if int(self.codes.day(user_id, now // DAY_SECONDS).get("sends", 0)) >= MAX_SENDS_PER_DAY:
            raise self._out_of(now, SENDS_USED_UP)

    def _claim_daily(self, user_id: str, counter: DailyCounter, maximum: int, message: str) -> int:
        """Takes one from the user's ``counter`` budget for today; returns the day, or refuses."""
        now = clock.epoch_seconds()
        day = now // DAY_SECONDS
        if not self.codes.claim_daily(user_id, day, counter, maximum, (day + 1) * DAY_SECONDS):
            logger.warning("one-time codes refused: the user's day budget is used up", extra={"budget": counter})
            raise self._out_of(now, message)
        return day

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
        the payment on), "too_many" (the caller cancels it), or an error to answer."""
        day = self._claim_daily(payment.user_id, "guesses", MAX_WRONG_GUESSES, "Too many wrong codes.")
        wrong = False
        try:
            claimed = self.codes.claim_attempt(payment.user_id, payment.payment_id, MAX_ATTEMPTS)
            if claimed is None:
                found = self._unclaimed(payment, code)
                if found == "wrong_after_use":
                    wrong = True  # a code was checked: it counts
                    raise OTP_NOT_REQUIRED  # a guess after the right code: that request confirms the payment
                return found
            attempts, stored_hash = int(claimed["attempts"]), str(claimed["code_hash"])
            if clock.epoch_seconds() > int(claimed["expires_at"]):
                raise OTP_EXPIRED
            if not hmac.compare_digest(stored_hash, self._hash(payment.payment_id, code)):
                wrong = True
                if attempts >= MAX_ATTEMPTS:
                    return "too_many"
                raise BadRequest(
                    "invalid_otp", "The code is not right.", extra={"attempts_remaining": MAX_ATTEMPTS - attempts}
                )
            if not self.codes.use(payment.user_id, payment.payment_id, stored_hash):
                raise OTP_NOT_REQUIRED  # a concurrent right guess already used it
            return "right"
        finally:
            if not wrong:  # only a wrong code checked uses up the budget
                self._give_back(payment.user_id, day, "guesses")

    def _give_back(self, user_id: str, day: int, counter: DailyCounter) -> None:
        """Best effort: a budget not given back (the table throttled) costs the user one of the day's,
        never the answer (a right code already used must not become a 500)."""
        try:
            self.codes.release_daily(user_id, day, counter)
        except Exception:
            logger.warning("one-time code budget not given back", extra={"budget": counter}, exc_info=True)

    def _unclaimed(self, payment: Payment, code: str) -> Literal["right", "too_many", "wrong_after_use"]:
        """Why no attempt could be claimed: only five wrong codes cancel the payment. A code already
        used while the payment still waits for one means the request that used it is moving it on,
        or died between the two writes; the same right code resumes it once that request cannot be
        alive (the lease's span), rather than leaving the payment waiting on a code no one can use."""
        current = self.codes.load(payment.user_id, payment.payment_id)
        if current is None:  # no code was stored (its first send was cut short)
            raise OTP_EXPIRED
        if "used_at" in current:
            if not hmac.compare_digest(str(current["code_hash"]), self._hash(payment.payment_id, code)):
                return "wrong_after_use"
            if int(current["used_at"]) + LEASE_SECONDS > clock.epoch_seconds():
                raise PROVIDER_CALL_IN_PROGRESS
            return "right"
        return "too_many"
