import logging
from datetime import timedelta
from urllib.parse import urlsplit
from uuid import uuid4

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.timesince import timeuntil
from kombu.exceptions import KombuError

from apps.accounts import forms, tokens
from apps.accounts.models import User
from apps.notifications import selectors as mail
from apps.notifications import services as notifications

logger = logging.getLogger(__name__)


class QueueUnavailable(Exception):
    """The job queue is down: the request could not be queued."""


class VerificationLinkInvalid(Exception):
    """The link is forged, expired, or for an address the account no longer has."""


def user_signup_request(
    *, address: str, password: str, email_key: str, base_url: str
) -> None:
    """Have a worker create the account for `address`, or tell its owner.

    Like a reset request, the web request only enqueues: whether the address
    already has an account is never looked up while the person waits, so the
    answer, and its timing, are the same either way. The password is hashed
    here (the slow part, and the same work for every address) so that only
    its hash travels. Raises QueueUnavailable if the queue is down.
    """
    _publish(
        "apps.accounts.tasks.signup_complete",
        (address, make_password(password), email_key, base_url),
        # What Celery logs and django-celery-results stores of the call.
        argsrepr=repr((address, "<password hash>", email_key, base_url)),
    )


@transaction.atomic
def user_signup_complete(
    *, address: str, password_hash: str, email_key: str, base_url: str
) -> None:
    """Create the account and queue its welcome email (key `email_key`); if the
    address has an account already, email its owner that someone tried to
    sign up with it instead. Run by a worker; safe to run twice."""
    address = User.objects.normalize_email(address)
    owner = User.objects.filter(email__iexact=address).first()
    if owner is None:
        try:
            with transaction.atomic():  # A savepoint: a lost race rolls back alone.
                user = User.objects.create(email=address, password=password_hash)
        except IntegrityError:  # Another sign-up for the address won the race.
            owner = User.objects.get(email__iexact=address)
        else:
            notifications.email_queue(
                owner=user,
                template="welcome",
                context=_verification_context(user, base_url),
                idempotency_key=email_key,
            )
            return
    if mail.email_exists(idempotency_key=email_key):
        return  # This very request made the account: the task was redelivered.
    base_url = base_url.rstrip("/")
    notifications.email_queue(
        owner=owner,
        template="signup_attempt",
        context={
            "login_url": base_url + reverse("accounts:login"),
            "reset_url": base_url + reverse("accounts:password_reset"),
        },
        idempotency_key=f"signup_attempt:{email_key}",
    )


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
    _publish("apps.accounts.tasks.password_reset_send", (address, email_key, base_url))


def _publish(task_path: str, args: tuple, argsrepr: str | None = None) -> None:
    # Published at once, not after commit: no row is written for it, so a
    # worker cannot come too early, and a broker that is down can be told to
    # the person now, rather than the request being lost without a word.
    # (By its path, as apps.core does for job tasks: tasks.py imports this.)
    task = import_string(task_path)
    try:
        task.apply_async(args, argsrepr=argsrepr)
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


def user_verify_email(*, token: str) -> tuple[User, bool]:
    """Mark the address in the signed token verified; verifying twice is fine.

    Returns the user and whether this was the first time.
    """
    try:
        payload = tokens.read_verification_token(token)
    except signing.BadSignature as exc:
        raise VerificationLinkInvalid from exc
    user = User.objects.filter(
        pk=payload.get("user"), email=payload.get("email"), is_active=True
    ).first()
    if user is None:
        raise VerificationLinkInvalid
    # One UPDATE that only the first click wins, even two at once.
    first_time = bool(
        User.objects.filter(pk=user.pk, email_verified_at=None).update(
            email_verified_at=timezone.now()
        )
    )
    user.refresh_from_db(fields=["email_verified_at"])
    return user, first_time


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
    now = timezone.now()
    return {
        "verify_url": base_url.rstrip("/")
        + reverse("accounts:verify_email", args=[token]),
        # "3 days", from EMAIL_VERIFICATION_MAX_AGE.
        "valid_for": timeuntil(
            now + timedelta(seconds=settings.EMAIL_VERIFICATION_MAX_AGE), now
        ),
    }
