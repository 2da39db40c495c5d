"""The fake gateway: every test card, and one charge per idempotency key."""

from decimal import Decimal

import pytest

from apps.orders import gateway
from apps.orders.models import GatewayCharge

pytestmark = pytest.mark.django_db
AMOUNT = Decimal("24.50")


def charge(number, key="key-1", amount=AMOUNT):
    token = gateway.tokenize(number).token
    return charge_token(token, key, amount)


def charge_token(token, key="key-1", amount=AMOUNT):
    return gateway.charge(
        token=token, amount=amount, currency="USD", idempotency_key=key
    )


def test_succeeding_card_is_charged():
    record = charge("4242424242424242")
    assert record.status == "succeeded"
    assert record.charge_id.startswith("ch_")
    assert record.amount == AMOUNT


@pytest.mark.parametrize(
    ("number", "code", "message"),
    [
        ("4000000000000002", "card_declined", "Your card was declined."),
        ("4000000000009995", "insufficient_funds", "Your card has insufficient funds."),
    ],
)
def test_declining_cards_fail_permanently_and_stay_declined(number, code, message):
    token = gateway.tokenize(number).token
    for _ in range(2):
        with pytest.raises(gateway.CardDeclined) as raised:
            charge_token(token)
        assert (raised.value.code, raised.value.message) == (code, message)
        assert not isinstance(raised.value, gateway.GatewayUnavailable)
    assert GatewayCharge.objects.get().status == "declined"


def test_card_that_fails_twice_then_succeeds_under_one_key():
    token = gateway.tokenize("4000000000000119").token
    for _ in range(2):
        with pytest.raises(gateway.GatewayUnavailable) as raised:
            charge_token(token)
        assert raised.value.reason == "processing error"
    assert charge_token(token).status == "succeeded"
    assert GatewayCharge.objects.get().requests == 3


def test_card_that_always_fails_transiently():
    token = gateway.tokenize("4000000000000127").token
    for _ in range(6):
        with pytest.raises(gateway.GatewayUnavailable):
            charge_token(token)
    assert GatewayCharge.objects.get().status == "pending"


def test_card_that_times_out():
    with pytest.raises(gateway.GatewayTimeout) as raised:
        charge("4000000000003204")
    assert raised.value.reason == "gateway timeout"
    assert isinstance(raised.value, gateway.GatewayUnavailable)  # So: retried.


def test_lost_response_charges_once_and_the_retry_finds_the_charge(settings):
    settings.DEMO_MODE = True
    token = gateway.tokenize("4000000000000259").token
    with pytest.raises(gateway.GatewayTimeout):
        charge_token(token)
    charged = GatewayCharge.objects.get()
    assert charged.status == "succeeded"  # The card was charged all the same.

    again = charge_token(token)
    assert again.charge_id == charged.charge_id
    assert GatewayCharge.objects.count() == 1
    assert GatewayCharge.objects.get().requests == 2


def test_lost_response_is_fault_injection_off_outside_demo_mode(settings):
    settings.DEMO_MODE = False
    assert charge("4000000000000259").status == "succeeded"


def test_same_key_never_charges_twice():
    token = gateway.tokenize("4242424242424242").token
    first, second = charge_token(token), charge_token(token)
    assert first.charge_id == second.charge_id
    assert GatewayCharge.objects.count() == 1


def test_other_keys_are_other_charges():
    token = gateway.tokenize("4242424242424242").token
    charge_token(token, "key-1")
    charge_token(token, "key-2")
    assert GatewayCharge.objects.count() == 2


def test_key_reused_for_another_amount_is_refused():
    token = gateway.tokenize("4242424242424242").token
    charge_token(token)
    with pytest.raises(ValueError, match="reused"):
        charge_token(token, amount=Decimal("1.00"))


def test_any_other_valid_number_succeeds():
    assert charge("5555555555554444").status == "succeeded"
