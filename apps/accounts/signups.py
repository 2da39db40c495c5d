"""Signing up: the web takes the form without looking the address up, a
worker opens a closed account or tells the address's owner, and the welcome
email's link confirms the address and opens the account.

Follow one sign-up in the README ("Follow one job: the welcome email").
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apps.accounts import services, tokens
from apps.accounts.models import SignupRequest, User
from apps.notifications import selectors as mail
from apps.notifications import services as notifications


class SignupLinkInvalid(Exception):
    """The sign-up link is forged, expired, or for an address that changed."""


class SignupLinkStale(SignupLinkInvalid):
    """The address was signed up again since: a newer email has the link."""


class SignupPasswordNeeded(Exception):
    """Confirmed from a browser other than the one that signed up, without
    the password that sign-up chose (or with a wrong one)."""


@sensitive_variables("password")
def user_signup_request(*, address: str, password: str, base_url: str) -> str:
    """Have a worker create the account for `address`, or tell its owner;
    return the sign-up's key, for the session (see tokens.make_signup_token).

    Like a reset request, the web request does the same work for every
    address: whether it has an account is never looked up while the person
    waits, so the answer, and its timing, are the same either way. The
    password is hashed here and travels to the worker in a row, never through
    the broker. Raises QueueUnavailable if the queue is down.
    """
    signup = SignupRequest.objects.create(
        email=address, password=make_password(password), key=secrets.token_urlsafe(32)
    )
    try:
        services.publish("apps.accounts.tasks.signup_complete", (signup.pk, base_url))
    except services.QueueUnavailable:
        signup.delete()
        raise
    return signup.key


def user_signup_complete(*, signup_id: int, base_url: str) -> None:
    """Deal with a sign-up; run by a worker, once (the request row goes).

    A free address gets an account that stays closed until the link in its
    welcome email is confirmed; an address whose account is still awaiting
    confirmation gets the new password and a new welcome email (the older
    links stop working). An address with an open account gets, at most once
    an hour, an email telling its owner someone tried to sign up with it.
    """
    with transaction.atomic():
        signup = SignupRequest.objects.select_for_update().filter(pk=signup_id).first()
        if signup is None:
            return  # Done already: a redelivered task.
        user = _signup_account(signup)
        if user.awaiting_confirmation:
            notifications.email_queue(
                owner=user,
                template="welcome",
                context=_signup_context(user, signup.key, base_url),
                idempotency_key=f"welcome:{signup.key}",
            )
        elif user.is_active and not mail.email_sent_since(
            owner=user,
            template="signup_attempt",
            since=timezone.now() - timedelta(hours=1),
        ):
            # At most one an hour, however many sign-ups try the address:
            # the owner's inbox, and its hourly email cap, stay theirs.
            base_url = base_url.rstrip("/")
            notifications.email_queue(
                owner=user,
                template="signup_attempt",
                context={
                    "login_url": base_url + reverse("accounts:login"),
                    "reset_url": base_url + reverse("accounts:password_reset"),
                },
                idempotency_key=f"signup_attempt:{signup.key}",
            )
        # A deactivated account is told nothing: it can do nothing about it.
        signup.delete()


def _signup_account(signup: SignupRequest) -> User:
    """The account for the sign-up's address, locked until the transaction
    ends (a confirmation waits for it): made for the sign-up, closed, if there
    was none; given its password if it is still awaiting confirmation."""
    address = User.objects.normalize_email(signup.email)
    user = User.objects.select_for_update().filter(email__iexact=address).first()
    if user is None:
        try:
            with transaction.atomic():  # A savepoint: a lost race rolls back alone.
                return User.objects.create(
                    email=address,
                    password=signup.password,
                    is_active=False,
                    awaiting_confirmation=True,
                )
        except IntegrityError:  # Another sign-up for the address won the race.
            user = User.objects.select_for_update().get(email__iexact=address)
    if user.awaiting_confirmation:
        # The last sign-up's password, and its time: links of earlier ones
        # go stale, and clean-up counts from now.
        user.password, user.date_joined = signup.password, timezone.now()
        user.save(update_fields=["password", "date_joined"])
    return user


@sensitive_variables("password")
def user_signup_confirm(
    *, token: str, session_key: str, password: str = ""
) -> tuple[User, bool]:
    """Open the account in the sign-up link, verified; return it and whether
    it was opened now (False: it was already).

    In the browser that signed up (its session holds the sign-up's key) the
    click is enough. Anywhere else, the password that sign-up chose is asked
    for (SignupPasswordNeeded): someone who never signed up, sent the link,
    cannot open an account whose password another person chose.
    """
    with transaction.atomic():
        user, payload = _signup_link(token, lock=True)
        if not user.awaiting_confirmation:
            return user, False
        signed_up_here = bool(session_key) and session_key == payload.get("key")
        if not signed_up_here and not (password and user.check_password(password)):
            raise SignupPasswordNeeded
        user.is_active, user.awaiting_confirmation = True, False
        user.email_verified_at = timezone.now()
        user.save(
            update_fields=["is_active", "awaiting_confirmation", "email_verified_at"]
        )
        notifications.notify(
            owner=user,
            kind="welcome",
            message=(
                "Welcome! Your account is open: place an order, import orders "
                "from a CSV file, request a report or upload images."
            ),
            url=reverse("orders:list"),
            idempotency_key=f"welcome:{user.pk}",
        )
        return user, True


def user_signup_preview(*, token: str) -> tuple[User, str]:
    """The account a sign-up link is for, and the sign-up's key; confirms
    nothing."""
    user, payload = _signup_link(token)
    return user, payload.get("key", "")


def _signup_link(token: str, *, lock: bool = False) -> tuple[User, dict]:
    try:
        payload = tokens.read_signup_token(token)
    except signing.BadSignature as exc:
        raise SignupLinkInvalid from exc
    accounts = User.objects.select_for_update() if lock else User.objects
    user = accounts.filter(pk=payload.get("user"), email=payload.get("email")).first()
    if user is None or not (user.is_active or user.awaiting_confirmation):
        raise SignupLinkInvalid
    if user.awaiting_confirmation and payload.get(
        "password"
    ) != tokens.password_fingerprint(user):
        raise SignupLinkStale
    return user, payload


def signup_requests_clean() -> int:
    """Delete sign-ups a worker never dealt with (their message was lost)
    after a day, and accounts never confirmed once their links expired: the
    password hashes go with them. Returns how many of both."""
    now = timezone.now()
    requests, _ = SignupRequest.objects.filter(
        created_at__lt=now - timedelta(days=1)
    ).delete()
    expired = now - timedelta(seconds=settings.EMAIL_VERIFICATION_MAX_AGE)
    _, deleted = User.objects.filter(
        awaiting_confirmation=True, date_joined__lt=expired
    ).delete()  # Their emails go with them.
    return requests + deleted.get(User._meta.label, 0)


def _signup_context(user: User, key: str, base_url: str) -> dict:
    token = tokens.make_signup_token(user, key=key)
    return services.link_context(
        reverse("accounts:signup_confirm", args=[token]), base_url
    )
