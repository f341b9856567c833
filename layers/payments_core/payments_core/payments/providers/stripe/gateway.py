"""Stripe behind the provider seam (``payments.provider``): requests at the pinned API version,
Stripe's objects, statuses and errors mapped onto the neutral facts the domain understands."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from payments_core.observability import logger, metrics
from payments_core.payments.provider import (
    IntentLookupIncomplete,
    IntentStatus,
    PaymentDeclined,
    ProviderFailed,
    ProviderIntent,
    ProviderRefused,
    ProviderRejected,
    ProviderUnavailable,
)
from payments_core.payments.providers.stripe.sdk import (
    ALLOWED_PAYMENT_METHOD_TYPES,
    STRIPE_API_VERSION,
    STRIPE_NETWORK_RETRIES,
    STRIPE_TIMEOUT,
    stripe_sdk,
)

if TYPE_CHECKING:  # loaded on first use: only the functions that read refunds, disputes or charges build them
    from payments_core.payments.provider_charges import ProviderCharge
    from payments_core.payments.provider_records import ProviderDispute, ProviderRefund, ProviderRefundStatus

NAME = "stripe"
# A PaymentIntent's status in our words; "requires_payment_method" after a confirmation attempt is a
# failed attempt, "requires_confirmation" changes nothing.
INTENT_STATUS: dict[str, IntentStatus] = {
    "requires_payment_method": "failed",
    "requires_confirmation": "pending",
    "requires_action": "requires_action",
    "processing": "processing",
    "requires_capture": "requires_capture",
    "succeeded": "succeeded",
    "canceled": "canceled",
}
REFUND_STATUS: dict[str, ProviderRefundStatus] = {
    "pending": "pending",
    "requires_action": "pending",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}
# Stripe's payment method ids, and its metadata limits: keys of at most 40 characters without square
# brackets, values of at most 500, at most 50 keys (we add three of our own ids).
PAYMENT_METHOD_ID = re.compile(r"^pm_[A-Za-z0-9_]{1,250}$")
METADATA_KEY = re.compile(r"^[^\[\]]{1,40}$")
METADATA_VALUE_MAX = 500
# An intent is looked for among those created since its payment: our clock and Stripe's may differ by
# this much. Pages of 100 looked through at most (newest first) before Stripe's search is asked.
CLOCK_SKEW_SECONDS = 300
# The cancellation reason of a failed intent we closed (``close_failed``); no other cancel of ours sends it.
CLOSED_FAILED_REASON = "abandoned"
FIND_INTENT_PAGES = 10
FIND_INTENT_PAGE_SIZE = 100  # Stripe's most
# The ids a search query may quote (``_search_intent``).
SEARCHABLE_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def reinstated_share(amount: int, moved: list[int]) -> int:
    """How much of a dispute's ``amount`` (in the charge's currency) came back, by its balance
    transactions ``moved`` (in the settlement currency): all of it when what came back is what was
    withdrawn, the same share of it when less came back, nothing when nothing did."""
    back = sum(value for value in moved if value > 0)
    out = -sum(value for value in moved if value < 0)
    if back <= 0:
        return 0
    if out <= 0 or back >= out:
        return amount
    return (amount * back + out // 2) // out


class StripeGateway:
    name = NAME

    def __init__(self, api_key: str, api_base: str | None = None, http_client: Any = None) -> None:
        from payments_core.payments.providers.stripe.http import Urllib3Client

        stripe = stripe_sdk()  # only payment functions pay for importing the SDK
        self._stripe = stripe
        self.client = stripe.StripeClient(
            api_key,
            stripe_version=STRIPE_API_VERSION,
            base_addresses={"api": api_base} if api_base else None,
            max_network_retries=STRIPE_NETWORK_RETRIES,
            http_client=http_client or Urllib3Client(timeout=STRIPE_TIMEOUT),
        )

    def _call(self, operation: Any, *args: Any, **kwargs: Any) -> Any:
        """Runs one SDK call, turning the SDK's errors into the contract's."""
        stripe = self._stripe
        try:
            return operation(*args, **kwargs)
        except stripe.CardError as error:
            body = error.json_body or {}
            detail = body.get("error", {}) if isinstance(body, dict) else {}
            intent = detail.get("payment_intent") or {}
            code = detail.get("decline_code") or error.code or "card_declined"
            raise PaymentDeclined(str(code), intent.get("id") if isinstance(intent, dict) else None) from None
        except (stripe.APIConnectionError, stripe.RateLimitError):
            raise ProviderUnavailable from None
        except stripe.InvalidRequestError as error:
            if error.param in ("payment_method", "currency", "amount"):
                raise ProviderRejected(str(error.param)) from None
            if error.code == "resource_missing" or error.http_status == 404:
                raise ProviderRejected("payment_method") from None
            self._log(error)
            raise ProviderRefused from None
        except stripe.StripeError as error:
            self._log(error)
            raise ProviderFailed from None

    @staticmethod
    def _log(error: Any) -> None:
        # Type, status and code only: the provider's message and payload stay out of our logs.
        logger.warning(
            "provider error",
            extra={"error_type": type(error).__name__, "http_status": error.http_status, "code": error.code},
        )

    @staticmethod
    def _data(obj: Any) -> dict[str, Any]:
        return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)

    @staticmethod
    def _metadata(data: dict[str, Any]) -> dict[str, str]:
        return {str(k): str(v) for k, v in (data.get("metadata") or {}).items()}  # null metadata is allowed

    @staticmethod
    def _id_of(value: Any) -> str | None:
        """An expandable field: an id, or the object it names when expanded."""
        if isinstance(value, dict):
            value = value.get("id")
        return value if isinstance(value, str) else None

    @classmethod
    def _intent(cls, obj: Any) -> ProviderIntent:
        data = cls._data(obj)
        error = data.get("last_payment_error") or {}
        status = INTENT_STATUS.get(str(data.get("status")), "pending")
        if status == "canceled" and data.get("cancellation_reason") == CLOSED_FAILED_REASON:
            status = "failed"  # a failed intent we closed (close_failed): still the failure it was
        return ProviderIntent(
            id=data["id"],
            status=status,
            amount=int(data.get("amount") or 0),
            currency=data.get("currency"),
            amount_received=int(data.get("amount_received") or 0),
            next_action=data.get("next_action"),
            client_secret=data.get("client_secret"),
            metadata=cls._metadata(data),
            cancellation_reason=data.get("cancellation_reason"),
            decline_code=(error.get("decline_code") or error.get("code")) if isinstance(error, dict) else None,
        )

    @classmethod
    def _refund(cls, obj: Any) -> ProviderRefund:
        from payments_core.payments.provider_records import ProviderRefund

        data = cls._data(obj)
        return ProviderRefund(
            id=data["id"],
            status=REFUND_STATUS.get(str(data.get("status")), "pending"),
            amount=int(data.get("amount") or 0),
            currency=data.get("currency"),
            payment_intent=cls._id_of(data.get("payment_intent")),
            reason=data.get("reason"),
            failure_reason=data.get("failure_reason"),
            created=data.get("created"),
            metadata=cls._metadata(data),
            charge=cls._id_of(data.get("charge")),
        )

    @classmethod
    def _dispute(cls, obj: Any) -> ProviderDispute:
        from payments_core.payments.provider_records import ProviderDispute

        data = cls._data(obj)
        # The balance transactions say what moved: a withdrawal (negative) when the dispute opened, a
        # reinstatement (positive) when it was won, or lost with only what had been refunded before it
        # coming back (Stripe: "partially won", status lost). Their amounts are in the account's
        # settlement currency, which need not be the payment's (a EUR charge on a USD account moves USD),
        # so what moved is the dispute's own amount, in the charge's currency, in the share the
        # transactions give (exact when the currencies are the same). Fees are left out: they are not the
        # customer's.
        amount = int(data.get("amount") or 0)
        moved = [int(t.get("amount") or 0) for t in data.get("balance_transactions") or [] if isinstance(t, dict)]
        return ProviderDispute(
            id=data["id"],
            status=str(data.get("status") or ""),
            amount=amount,
            currency=data.get("currency"),
            reason=data.get("reason"),
            payment_intent=cls._id_of(data.get("payment_intent")),
            withdrawn=amount if any(value < 0 for value in moved) else 0,
            # Won: all of it came back, whatever rate the reversal was converted at.
            reinstated=amount
            if data.get("status") == "won" and any(v > 0 for v in moved)
            else reinstated_share(amount, moved),
            charge_refundable=data.get("is_charge_refundable") is True,
            created=data.get("created"),
        )

    def request_problems(self, *, payment_method: str, metadata: dict[str, str]) -> list[dict[str, str]]:
        problems = []
        if not PAYMENT_METHOD_ID.match(payment_method):
            problems.append({"field": "payment_method", "message": "Not a Stripe payment method id (pm_...)."})
        for key, value in metadata.items():
            if not METADATA_KEY.match(key):
                problems.append(
                    {
                        "field": f"metadata.{key[:40]}",
                        "message": "Stripe takes keys of 1 to 40 characters without square brackets.",
                    }
                )
            elif len(value) > METADATA_VALUE_MAX:
                problems.append(
                    {"field": f"metadata.{key}", "message": "Stripe takes values of at most 500 characters."}
                )
        return problems

    def create_intent(
        self,
        *,
        amount: int,
        currency: str,
        payment_method: str,
        capture_method: str,
        description: str | None,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> ProviderIntent:
        params: dict[str, Any] = {
            "amount": amount,
            "currency": currency,
            "payment_method": payment_method,
            "allowed_payment_method_types": ALLOWED_PAYMENT_METHOD_TYPES,
            "capture_method": capture_method,
            "confirm": True,
            "metadata": metadata,
        }
        if description is not None:
            params["description"] = description  # shown in Stripe's dashboard and on its receipts
        # No automatic network retry here: a retry after a lost answer goes through find_intent first.
        options = {"idempotency_key": idempotency_key, "max_network_retries": 0}
        return self._intent(self._call(self.client.v1.payment_intents.create, params=params, options=options))

    def find_intent(
        self, payment_id: str, *, created_since: int, created_until: int | None = None
    ) -> ProviderIntent | None:
        """The intent an interrupted attempt created for ``payment_id`` (our id is in its metadata): among
        the intents created since the payment (less the clocks' skew), newest first, at most
        ``FIND_INTENT_PAGES`` pages of 100; past those, Stripe's search by that metadata, and if it finds
        none (it lags), not "none" but ``IntentLookupIncomplete``."""
        created = {"gte": created_since - CLOCK_SKEW_SECONDS}
        if created_until is not None:
            created["lte"] = created_until + CLOCK_SKEW_SECONDS
        params: dict[str, Any] = {"limit": FIND_INTENT_PAGE_SIZE, "created": created}
        page = self._call(self.client.v1.payment_intents.list, params=params)
        for read in range(1, FIND_INTENT_PAGES + 1):
            for obj in page.data:
                if (obj.to_dict().get("metadata") or {}).get("payment_id") == payment_id:
                    return self._intent(obj)
            if not page.has_more or not page.data:
                return None
            if read < FIND_INTENT_PAGES:
                page = self._call(
                    self.client.v1.payment_intents.list, params={**params, "starting_after": page.data[-1].id}
                )
        found = self._search_intent(payment_id)
        if found is not None:
            return found
        logger.warning("too many intents to look through", extra={"payment_id": payment_id})
        metrics.add_metric(name="IntentLookupIncomplete", unit="Count", value=1)
        raise IntentLookupIncomplete

    def _search_intent(self, payment_id: str) -> ProviderIntent | None:
        """The intent whose metadata names ``payment_id``, by Stripe's search: one call where the list
        was too long to read. Search lags writes (under a minute, longer in an outage) and is not offered
        everywhere, so "none found" or a refusal proves nothing: the caller's answer stays unknown."""
        if not SEARCHABLE_ID.match(payment_id):  # never a quote in the query (our ids have none)
            return None
        query = f"metadata['payment_id']:'{payment_id}'"
        try:
            result = self._call(self.client.v1.payment_intents.search, params={"query": query, "limit": 2})
        except (ProviderUnavailable, ProviderFailed, ProviderRejected):
            return None
        matches = [obj for obj in result.data if self._metadata(self._data(obj)).get("payment_id") == payment_id]
        return self._intent(matches[0]) if len(matches) == 1 else None

    def retrieve_intent(self, intent_id: str) -> ProviderIntent:
        # The same request and errors as ``v1.payment_intents.retrieve``, read as plain JSON: the SDK's
        # StripeObject tree (and the copy ``to_dict`` makes of it) is work no caller uses; this is on
        # every webhook delivery's path.
        answer = self._call(self.client.raw_request, "get", "/v1/payment_intents/" + quote_plus(intent_id))
        return self._intent(answer.data)

    def capture(self, intent_id: str, amount: int | None, idempotency_key: str) -> ProviderIntent:
        params = {"amount_to_capture": amount} if amount else {}
        return self._intent(
            self._call(
                self.client.v1.payment_intents.capture,
                intent_id,
                params=params,
                options={"idempotency_key": idempotency_key},
            )
        )

    def cancel(self, intent_id: str, idempotency_key: str) -> ProviderIntent:
        return self._cancel(intent_id, {}, idempotency_key)

    def close_failed(self, intent_id: str, idempotency_key: str) -> ProviderIntent:
        # The reason tells this close from a merchant's cancel (which sends none) and from Stripe's own
        # (``expired``): an intent canceled with it reads as failed (``_intent``).
        return self._cancel(intent_id, {"cancellation_reason": CLOSED_FAILED_REASON}, idempotency_key)

    def _cancel(self, intent_id: str, params: dict[str, Any], idempotency_key: str) -> ProviderIntent:
        options = {"idempotency_key": idempotency_key}
        return self._intent(
            self._call(self.client.v1.payment_intents.cancel, intent_id, params=params, options=options)
        )

    def refund(
        self, intent_id: str, amount: int, reason: str | None, metadata: dict[str, str], idempotency_key: str
    ) -> ProviderRefund:
        params: dict[str, Any] = {"payment_intent": intent_id, "amount": amount, "metadata": metadata}
        if reason:
            params["reason"] = reason
        options = {"idempotency_key": idempotency_key, "max_network_retries": 0}
        return self._refund(self._call(self.client.v1.refunds.create, params=params, options=options))

    def find_refund(self, intent_id: str, refund_id: str) -> ProviderRefund | None:
        return next((r for r in self.list_refunds(intent_id) if r.metadata.get("refund_id") == refund_id), None)

    def list_refunds(self, intent_id: str) -> list[ProviderRefund]:
        """Every refund of an intent, as the provider holds them now (a payment has at most 100 of ours)."""
        refunds: list[ProviderRefund] = []
        params: dict[str, Any] = {"payment_intent": intent_id, "limit": 100}
        for _ in range(5):
            page = self._call(self.client.v1.refunds.list, params=params)
            refunds.extend(self._refund(obj) for obj in page.data)
            if not page.has_more or not page.data:
                break
            params = {**params, "starting_after": page.data[-1].id}
        return refunds

    def retrieve_dispute(self, dispute_id: str) -> ProviderDispute:
        return self._dispute(self._call(self.client.v1.disputes.retrieve, dispute_id))

    # --- the daily report: what the provider holds for a span of time (ReportingGateway) -----------
    def _created_between(self, service: Any, start: int, end: int) -> list[Any]:
        """Every object ``service`` lists as created in [start, end), page by page (at most 100 pages
        of 100: a day of this system's volume is far below that; more is logged, never silently cut)."""
        params: dict[str, Any] = {"created": {"gte": start, "lt": end}, "limit": 100}
        found: list[Any] = []
        for _ in range(100):
            page = self._call(service.list, params=params)
            found.extend(page.data)
            if not page.has_more or not page.data:
                return found
            params = {**params, "starting_after": page.data[-1].id}
        logger.error("provider listing cut at 10,000 objects", extra={"start": start, "end": end})
        return found

    def list_charges(self, start: int, end: int) -> list[ProviderCharge]:
        from payments_core.payments.provider_charges import ProviderCharge

        charges = []
        for obj in self._created_between(self.client.v1.charges, start, end):
            data = self._data(obj)
            charges.append(
                ProviderCharge(
                    id=data["id"],
                    amount=int(data.get("amount") or 0),
                    amount_captured=int(data.get("amount_captured") or 0),
                    amount_refunded=int(data.get("amount_refunded") or 0),
                    captured=bool(data.get("captured")),
                    status=str(data.get("status") or ""),
                    currency=data.get("currency"),
                    payment_intent=self._id_of(data.get("payment_intent")),
                    created=data.get("created"),
                )
            )
        return charges

    def retrieve_charge_intent(self, charge_id: str) -> str | None:
        """The intent a charge belongs to (a refund of a charge made another day names only the charge)."""
        return self._id_of(self._data(self._call(self.client.v1.charges.retrieve, charge_id)).get("payment_intent"))

    def list_refunds_between(self, start: int, end: int) -> list[ProviderRefund]:
        return [self._refund(obj) for obj in self._created_between(self.client.v1.refunds, start, end)]

    def list_disputes_between(self, start: int, end: int) -> list[ProviderDispute]:
        return [self._dispute(obj) for obj in self._created_between(self.client.v1.disputes, start, end)]
