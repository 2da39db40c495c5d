"""Tags for the payment form, which the payment's status box offers again
after a failure, rendered by the core job views that know nothing of forms."""

from django import template

from apps.orders import forms, gateway

register = template.Library()


@register.simple_tag
def new_payment_form():
    return forms.PaymentForm()


@register.simple_tag
def test_cards():
    return gateway.TEST_CARDS
