import re
import uuid
from datetime import date

from django import forms

MAX_QUANTITY = 20


class OrderForm(forms.Form):
    """A quantity field per product, and a token that makes double submits harmless."""

    checkout_token = forms.UUIDField(widget=forms.HiddenInput)

    FORM_RENEWED = (
        "This order form was out of date, so we renewed it. Check the quantities "
        "and place the order again."
    )

    def __init__(self, *args, products, **kwargs):
        super().__init__(*args, **kwargs)
        self.initial.setdefault("checkout_token", uuid.uuid4())
        # A missing or mangled token would be posted back as it is, and fail
        # again each time: the form comes back with a fresh one instead.
        self.token_replaced = False
        if self.is_bound and not _is_uuid(self.data.get("checkout_token")):
            self.data = self.data.copy()
            self.data["checkout_token"] = str(uuid.uuid4())
            self.token_replaced = True
        self.products = list(products)
        for product in self.products:
            self.fields[f"quantity_{product.pk}"] = forms.IntegerField(
                label=product.name,
                min_value=0,
                max_value=MAX_QUANTITY,
                initial=0,
                widget=forms.NumberInput(
                    attrs={"class": "quantity", "inputmode": "numeric"}
                ),
            )

    def product_rows(self):
        """(product, its quantity field), for the catalogue table."""
        return [(p, self[f"quantity_{p.pk}"]) for p in self.products]

    def clean(self):
        cleaned = super().clean()
        if self.token_replaced:
            raise forms.ValidationError(self.FORM_RENEWED)
        if not any(self.quantities().values()) and not self.errors:
            raise forms.ValidationError("Choose at least one product.")
        return cleaned

    def quantities(self) -> dict[int, int]:
        return {
            p.pk: self.cleaned_data.get(f"quantity_{p.pk}") or 0 for p in self.products
        }


def _card_input(autocomplete: str, placeholder: str) -> forms.TextInput:
    """A checkout field as browsers and phone keyboards expect it."""
    return forms.TextInput(
        attrs={
            "autocomplete": autocomplete,
            "inputmode": "numeric",
            "placeholder": placeholder,
        }
    )


class PaymentForm(forms.Form):
    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        widget=_card_input("cc-number", "4242 4242 4242 4242"),
    )
    # Asked for, and checked, as a real checkout does; never stored or sent
    # anywhere: the fake gateway charges by card number alone.
    expiry = forms.CharField(
        label="Expiry (MM/YY)", max_length=7, widget=_card_input("cc-exp", "MM/YY")
    )
    cvc = forms.CharField(
        label="CVC", max_length=4, widget=_card_input("cc-csc", "123")
    )

    def clean_expiry(self):
        match = re.fullmatch(
            r"(0[1-9]|1[0-2]) ?/ ?([0-9]{2}|[0-9]{4})", self.cleaned_data["expiry"]
        )
        if not match:
            raise forms.ValidationError("Enter the expiry as on the card: MM/YY.")
        month, year = int(match[1]), int(match[2][-2:]) + 2000
        today = date.today()
        if (year, month) < (today.year, today.month):
            raise forms.ValidationError("This card has expired.")
        if year > today.year + 20:
            raise forms.ValidationError("Enter the expiry as on the card: MM/YY.")
        return f"{month:02d}/{year % 100:02d}"

    def clean_cvc(self):
        if not re.fullmatch(r"[0-9]{3,4}", self.cleaned_data["cvc"]):
            raise forms.ValidationError(
                "Enter the 3 or 4 digits on the back of the card."
            )
        return self.cleaned_data["cvc"]

    def clean_card_number(self):
        typed = self.cleaned_data["card_number"]
        number = re.sub(r"[ -]", "", typed)
        # ASCII digits only: str.isdigit() also takes Arabic-Indic or
        # full-width digits, which no card network prints.
        if not re.fullmatch(r"[0-9]{12,19}", number) or not luhn_valid(number):
            raise forms.ValidationError(
                "Enter a valid card number: 12 to 19 digits, as printed on the card."
            )
        return number


def _is_uuid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def luhn_valid(number: str) -> bool:
    """The check digit every card number carries; catches most typos."""
    total = 0
    for index, digit in enumerate(int(d) for d in reversed(number)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
