import logging
from datetime import timedelta
from urllib.parse import urlsplit
from uuid import uuid4

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.timesince import timeuntil
from kombu.exceptions import KombuError

from apps.accounts import forms, tokens
from apps.accounts.models import User
from apps.notifications import services as notifications

logger = logging.getLogger(__name__)


class QueueUnavailable(Exception):
    """The job queue is down: the request could not be queued."""


class VerificationLinkInvalid(Exception):
    """The link is forged, expired, or for an address the account no longer has."""


@transaction.atomic
def user_send_verification(*, user: User, base_url: str) -> None:
    """Send a fresh verification link, for a user who lost the welcome email."""
    notifications.email_queue(
        owner=user,
        template="verify_email",
        context=_verification_context(user, base_url),
        idempotency_key=f"verify:{user.pk}:{uuid4()}",
    )


def password_reset_request(*, address: str, email_key: str, base_url: str) -> None:
    """Have a worker email a reset link to `address`, if an account uses it.

    The web request only enqueues: whether the address has an account is
    never looked up while the person waits, so the answer, and its timing,
    are the same either way. Raises QueueUnavailable if the queue is down.
    """
    publish("apps.accounts.tasks.password_reset_send", (address, email_key, base_url))


def publish(task_path: str, args: tuple) -> None:
    """Publish an accounts task at once; QueueUnavailable if the broker is down."""
    # Published at once, not after commit, so that a broker that is down can
    # be told to the person now rather than the request being lost without a
    # word. So never call it inside a transaction that writes what the task
    # reads: the worker could come before the commit.
    # (By its path, as apps.core does for job tasks: tasks.py imports this.)
    task = import_string(task_path)
    try:
        task.apply_async(args)
    except (KombuError, OSError) as exc:
        logger.warning("Broker unavailable: %s was not queued", task_path)
        raise QueueUnavailable from exc


def password_reset_send(*, address: str, email_key: str, base_url: str) -> None:
    """Queue the reset email for the account using `address`; run by a worker."""
    url = urlsplit(base_url)
    form = forms.PasswordResetForm({"email": address})
    if not form.is_valid():
        return
    form.email_key = email_key
    # Django's own reset form finds the active accounts with a usable
    # password and renders the link; its send_mail queues our email job.
    form.save(domain_override=url.netloc, use_https=url.scheme == "https")


def user_verify_email(*, token: str) -> User:
    """Mark the address in the signed token verified; verifying twice is fine."""
    try:
        payload = tokens.read_verification_token(token)
    except signing.BadSignature as exc:
        raise VerificationLinkInvalid from exc
    user = User.objects.filter(
        pk=payload.get("user"), email=payload.get("email"), is_active=True
    ).first()
    if user is None:
        raise VerificationLinkInvalid
    if user.email_verified_at is None:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


# Published in the README: seed_demo runs only in demo mode.
DEMO_USERS = [
    # (email, password, is_staff)
    ("demo@example.com", "demo-password", False),
    ("admin@example.com", "admin-password", True),
]


def user_seed_demo(*, email: str, password: str, is_staff: bool = False) -> User:
    """Create or reset a demo account; safe to run any number of times."""
    user = User.objects.filter(email=email).first() or User(email=email)
    user.is_staff = user.is_superuser = is_staff
    user.email_verified_at = user.email_verified_at or timezone.now()
    user.set_password(password)
    user.save()
    return user


def _verification_context(user: User, base_url: str) -> dict:
    token = tokens.make_verification_token(user)
    return link_context(reverse("accounts:verify_email", args=[token]), base_url)


def link_context(path: str, base_url: str) -> dict:
    """What an email with a signed link says: the link, and for how long it
    works ("3 days", from EMAIL_VERIFICATION_MAX_AGE)."""
    now = timezone.now()
    return {
        "verify_url": base_url.rstrip("/") + path,
        "valid_for": timeuntil(
            now + timedelta(seconds=settings.EMAIL_VERIFICATION_MAX_AGE), now
        ),
    }
