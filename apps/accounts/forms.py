from uuid import uuid4

from django import forms
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import password_validation

from apps.accounts.models import User
from apps.notifications import services as notifications


class SignUpForm(forms.Form):
    email = forms.EmailField(
        label="Email address",
        # As long as the column holds: a longer address is a form error, not
        # a database error (a 500 on PostgreSQL).
        max_length=User._meta.get_field("email").max_length,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_email(self):
        # Whether the address has an account is not checked here: the worker
        # finds out, and only the address's owner is told (no enumeration).
        return User.objects.normalize_email(self.cleaned_data["email"])

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        # Every error at once: a weak password is worth knowing about even
        # when the second one was mistyped.
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "The two passwords differ.")
        if password1:
            candidate = User(email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(password1, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, sending its email through the worker like every other.

    The view gives it `email_key`, the idempotency key of the email it sends,
    so that demo mode can show that email to the browser that asked for it.
    A staff account's reset email gets a key of its own instead: no browser
    is ever shown a way into a staff account.
    """

    email_key = ""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        user = context["user"]
        notifications.email_queue(
            owner=user,
            template="password_reset",
            context=context,
            idempotency_key=(
                f"password_reset:{uuid4()}" if user.is_staff else self.email_key
            ),
        )
