"""
A fake card processor that behaves like a real one, in the style of Stripe's
test mode: special card numbers succeed, decline, or fail in the ways real
processors do, and every charge takes an idempotency key, under which it is
made at most once however often it is requested.

Its state lives in the database (GatewayCard, GatewayCharge), so the web
process that tokenizes a card, the worker that charges it, and the tests all
see the same records. Swap this module for a real client to go live; the
exceptions are the contract the payment service relies on.
"""

import secrets
import time
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.orders.models import GatewayCard, GatewayCharge


class GatewayError(Exception):
    """A charge did not go through. `reason` is short, for a status line."""

    code = "gateway_error"
    reason = "gateway error"

    def __init__(self, message: str = ""):
        super().__init__(message or self.reason)
        self.message = message or self.reason


class CardDeclined(GatewayError):
    """Permanent: the same card will fail again. Do not retry."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.reason = code.replace("_", " ")


class GatewayUnavailable(GatewayError):
    """Transient: the same request may succeed later. Retry with the same key."""

    code = "processing_error"
    reason = "processing error"


class GatewayTimeout(GatewayUnavailable):
    """No answer in time. The charge may or may not have been made, which is
    why retries reuse the idempotency key."""

    code = "timeout"
    reason = "gateway timeout"


@dataclass(frozen=True)
class TestCard:
    number: str
    behaviour: str
    description: str

    @property
    def display(self) -> str:
        return " ".join(self.number[i : i + 4] for i in range(0, 16, 4))


TEST_CARDS = [
    TestCard("4242424242424242", "succeed", "Succeeds."),
    TestCard("4000000000000002", "decline", "Declined (card_declined); no retry."),
    TestCard("4000000000009995", "insufficient_funds", "Insufficient funds; no retry."),
    TestCard(
        "4000000000000119",
        "fail_twice",
        "Processing error on the first two attempts, then succeeds.",
    ),
    TestCard(
        "4000000000000127",
        "always_fail",
        "Processing error every time; fails after the last retry.",
    ),
    TestCard(
        "4000000000003204", "timeout", "The gateway never answers; retried, then fails."
    ),
    TestCard(
        "4000000000000259",
        "lost_response",
        "Charged, but the first answer is lost (demo mode only); the retry "
        "finds the charge instead of charging twice.",
    ),
]
_BEHAVIOURS = {card.number: card.behaviour for card in TEST_CARDS}
# Fault injection: only in DEMO_MODE, which `check --deploy` refuses.
_DEMO_ONLY = {"lost_response"}
DECLINES = {
    "decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("insufficient_funds", "Your card has insufficient funds."),
}


def tokenize(number: str) -> GatewayCard:
    """Exchange a card number for a token, as a payment page's script would."""
    return GatewayCard.objects.create(
        token=f"tok_{secrets.token_hex(12)}", number=number
    )


def charge(
    *, token: str, amount: Decimal, currency: str, idempotency_key: str
) -> GatewayCharge:
    """Charge the tokenized card once per idempotency key.

    A repeated request for a key that succeeded returns the same charge; one
    that was declined is declined again. Raises CardDeclined (permanent) or
    GatewayUnavailable / GatewayTimeout (transient).
    """
    card = GatewayCard.objects.get(token=token)
    behaviour = _behaviour(card.number)
    with transaction.atomic():
        record, _ = GatewayCharge.objects.select_for_update().get_or_create(
            idempotency_key=idempotency_key,
            defaults={
                "charge_id": f"ch_{secrets.token_hex(12)}",
                "card": card,
                "amount": amount,
                "currency": currency,
                "status": GatewayCharge.Status.PENDING,
            },
        )
        if (record.card_id, record.amount) != (card.id, amount):
            raise ValueError(
                f"Idempotency key {idempotency_key} reused for another charge"
            )
        GatewayCharge.objects.filter(pk=record.pk).update(requests=F("requests") + 1)
        record.refresh_from_db()
        outcome = _outcome(record, behaviour)
        if outcome in ("succeed", "lost_response"):
            record.status = GatewayCharge.Status.SUCCEEDED
            record.succeeded_at = record.succeeded_at or timezone.now()
        elif outcome in DECLINES:
            record.status = GatewayCharge.Status.DECLINED
            record.decline_code = DECLINES[outcome][0]
        record.save(update_fields=["status", "succeeded_at", "decline_code"])

    # The answer travels back after the charge is recorded: a worker killed in
    # this window has charged the card without knowing it.
    time.sleep(settings.PAYMENT_GATEWAY_LATENCY)
    if outcome == "replay_success":
        return record
    if outcome == "lost_response":
        raise GatewayTimeout("The charge went through but its answer was lost.")
    if outcome == "timeout":
        time.sleep(settings.PAYMENT_GATEWAY_TIMEOUT)
        raise GatewayTimeout
    if outcome in DECLINES:
        raise CardDeclined(*DECLINES[outcome])
    if outcome == "processing_error":
        raise GatewayUnavailable
    return record


def charge_lookup(*, idempotency_key: str) -> GatewayCharge | None:
    """What became of the charge made under this key, if any (no new charge).

    Processors offer such a look-up for exactly this case: the last answer
    was lost, and only the processor knows whether the card was charged.
    """
    return GatewayCharge.objects.filter(idempotency_key=idempotency_key).first()


def _behaviour(number: str) -> str:
    behaviour = _BEHAVIOURS.get(number, "succeed")
    if behaviour in _DEMO_ONLY and not settings.DEMO_MODE:
        return "succeed"
    return behaviour


def _outcome(record: GatewayCharge, behaviour: str) -> str:
    """What this request for `record` does, given its card and its history."""
    if record.status == GatewayCharge.Status.SUCCEEDED:
        return "replay_success"  # Already charged: answer again, charge nothing.
    if record.status == GatewayCharge.Status.DECLINED:
        return behaviour
    if behaviour == "fail_twice":
        return "processing_error" if record.requests <= 2 else "succeed"
    if behaviour == "always_fail":
        return "processing_error"
    return behaviour
