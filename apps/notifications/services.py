import logging
import smtplib
from datetime import timedelta
from uuid import uuid4

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core import signing
from django.core.files.storage import default_storage
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from apps.core import services as jobs
from apps.notifications.kinds import KINDS
from apps.notifications.models import (
    Notification,
    NotificationPreferences,
    OutgoingEmail,
)

logger = logging.getLogger(__name__)


@transaction.atomic
def email_queue(
    *,
    owner,
    template: str,
    context: dict,
    idempotency_key: str = "",
    attachments: list[dict] = (),
) -> OutgoingEmail:
    """Render `templates/emails/<template>.*` for `owner` and send it from a worker.

    With an idempotency key, queueing the same email again returns the first
    row instead of sending twice. `attachments` are stored files, each
    {"name": storage name, "filename": ..., "content_type": ...}.
    """
    context = {
        **context,
        "user": owner,
        "site_name": "Jobs Demo",
        "settings_url": settings.SITE_URL + reverse("notifications:settings"),
    }
    email, created = OutgoingEmail.objects.get_or_create(
        idempotency_key=idempotency_key or f"{template}:{uuid4()}",
        defaults={
            "owner": owner,
            "template": template,
            "to_address": owner.email,
            "from_address": settings.DEFAULT_FROM_EMAIL,
            # A header line cannot hold a newline.
            "subject": " ".join(
                render_to_string(f"emails/{template}_subject.txt", context).split()
            ),
            "body_text": render_to_string(f"emails/{template}.txt", context),
            "body_html": render_to_string(f"emails/{template}.html", context),
            "attachments": list(attachments),
        },
    )
    if created:
        if _address_had_its_fill(email):
            jobs.job_refuse(
                email,
                message=(
                    "Not sent: this address already had "
                    f"{settings.EMAILS_PER_ADDRESS_PER_HOUR} emails in the last "
                    "hour, the most we send."
                ),
            )
            logger.warning(
                "Email %s to %s refused: hourly cap", email.pk, email.to_address
            )
        else:
            jobs.job_enqueue(email)
    return email


def _address_had_its_fill(email: OutgoingEmail) -> bool:
    """Whether the address already had its hourly share of emails, whatever
    asked for them: a cap on abuse (resets, resends) that no route escapes."""
    hour_ago = timezone.now() - timedelta(hours=1)
    sent_or_coming = (
        OutgoingEmail.objects.filter(
            # The owner first: every email goes to its owner's address, and
            # the (owner, created_at) index keeps this one query small when
            # the table holds an announcement to ten thousand people.
            owner=email.owner_id,
            to_address__iexact=email.to_address,
            created_at__gte=hour_ago,
        )
        .exclude(pk=email.pk)
        .exclude(status=OutgoingEmail.Status.FAILED, attempts=0)  # Refused ones.
    )
    return sent_or_coming.count() >= settings.EMAILS_PER_ADDRESS_PER_HOUR


def notify(
    *,
    owner,
    kind: str,
    message: str,
    url: str = "",
    idempotency_key: str,
    email: tuple[str, dict] | None = None,
) -> Notification:
    """Tell `owner` something happened: the one way every app does.

    It stores a notification (once per key: a redelivered task finds the
    first and does nothing more) and, if the owner's preferences say so for
    this `kind` (kinds.py), emails it through email_queue. `email` is the
    app's own email for the event, (template, context); without it the
    email is the notification's message and link.
    """
    with transaction.atomic():
        notification, created = Notification.objects.get_or_create(
            idempotency_key=idempotency_key,
            defaults={
                "owner": owner,
                "kind": kind,
                "message": message[:300],
                "url": url,
            },
        )
        if created and wants_email(owner, kind):
            _email_notification(notification, email)
    return notification


def _email_notification(notification: Notification, email=None) -> OutgoingEmail:
    template, context = email or ("notification", {})
    url = settings.SITE_URL + notification.url if notification.url else ""
    return email_queue(
        owner=notification.owner,
        template=template,
        context={"notification": notification, "url": url, **context},
        idempotency_key=f"notification:{notification.idempotency_key}",
    )


def wants_email(owner, kind: str) -> bool:
    """Whether `owner` gets notifications of `kind` by email too."""
    preferences = NotificationPreferences.objects.filter(owner=owner).first()
    return email_wanted(preferences, kind)


def email_wanted(preferences: NotificationPreferences | None, kind: str) -> bool:
    """As the preferences say, or the kind's default for someone who never
    chose (no preferences)."""
    if preferences is None:
        known = KINDS.get(kind)
        return bool(known and known.email_by_default)
    return kind in preferences.email_kinds


def preferences_of(owner) -> NotificationPreferences:
    """The owner's preferences, unsaved with the defaults if they never chose."""
    return NotificationPreferences.objects.filter(
        owner=owner
    ).first() or NotificationPreferences(
        owner=owner,
        email_kinds=[key for key, kind in KINDS.items() if kind.email_by_default],
    )


def preferences_save(*, owner, email_kinds, digest: bool) -> NotificationPreferences:
    preferences, _ = NotificationPreferences.objects.update_or_create(
        owner=owner,
        defaults={
            "email_kinds": [kind for kind in KINDS if kind in set(email_kinds)],
            "digest": digest,
        },
    )
    return preferences


def notifications_mark_read(*, owner, pk: int | None = None) -> int:
    """Mark the owner's unread notifications read: all, or the one `pk`."""
    unread = Notification.objects.filter(owner=owner, read_at=None)
    if pk is not None:
        unread = unread.filter(pk=pk)
    return unread.update(read_at=timezone.now())


def notifications_purge() -> str:
    """Delete notifications older than NOTIFICATION_RETENTION_DAYS, read or
    not: beat, daily. Running it twice deletes nothing more."""
    cutoff = timezone.now() - timedelta(days=settings.NOTIFICATION_RETENTION_DAYS)
    deleted, _ = Notification.objects.filter(created_at__lt=cutoff).delete()
    return f"Deleted {deleted} notification{'s' if deleted != 1 else ''}."


# The idempotency keys of the emails this browser may read at /mailbox/
# besides its user's own (selectors.mailbox_emails), kept in its session.
MAILBOX_SHARED_KEYS = "mailbox_shared_keys"


def mailbox_share(session, *, idempotency_key: str) -> None:
    """Let this browser read the email queued with `idempotency_key`.

    Demo mode's stand-in for the recipient's own inbox: someone logged out who
    asked for a password reset reads the reset email here. Only the last few
    are kept.
    """
    keys = [*session.get(MAILBOX_SHARED_KEYS, []), idempotency_key]
    session[MAILBOX_SHARED_KEYS] = keys[-5:]


def mailbox_shared_keys(session) -> list[str]:
    return list(session.get(MAILBOX_SHARED_KEYS, []))


# Bulk mail's one-click unsubscribe (RFC 8058), which large mailbox providers
# ask of bulk senders: what each bulk template stops.
UNSUBSCRIBE_TOPICS = {"announcement": "announcement", "digest": "digest"}


def unsubscribe_token(owner, topic: str) -> str:
    return signing.dumps({"user": owner.pk, "topic": topic}, salt="unsubscribe")


def unsubscribe_read(token: str) -> tuple[int, str] | None:
    """The user id and topic in an unsubscribe link, or None if forged."""
    try:
        data = signing.loads(token, salt="unsubscribe")
    except signing.BadSignature:
        return None
    if data.get("topic") not in UNSUBSCRIBE_TOPICS.values():
        return None
    return data["user"], data["topic"]


def unsubscribe(*, owner, topic: str) -> None:
    """Stop one kind of bulk mail: announcements by email, or the digest."""
    preferences = preferences_of(owner)
    if topic == "digest":
        preferences.digest = False
    else:
        preferences.email_kinds = [k for k in preferences.email_kinds if k != topic]
    preferences.save()


def _bulk_headers(email: OutgoingEmail) -> dict:
    topic = UNSUBSCRIBE_TOPICS.get(email.template)
    if topic is None:
        return {}
    url = settings.SITE_URL + reverse(
        "notifications:unsubscribe", args=[unsubscribe_token(email.owner, topic)]
    )
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def email_deliver(*, email: OutgoingEmail) -> None:
    """Send the email through EMAIL_BACKEND and mark it sent.

    Run by the worker, once per attempt, through the job task base, which has
    claimed the row (a sent email is never sent again). A transient SMTP
    failure is recorded and retried (job_retry_or_fail raises RetryLater).
    """
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body_text,
        from_email=email.from_address,
        to=[email.to_address],
        headers={"X-Idempotency-Key": email.idempotency_key, **_bulk_headers(email)},
    )
    if email.body_html:
        message.attach_alternative(email.body_html, "text/html")
    for attachment in email.attachments:
        try:
            with default_storage.open(attachment["name"], "rb") as file:
                content = file.read()
        except FileNotFoundError:
            # Deleted since it was queued (its order is gone): the email
            # still goes, as the rest of it is still true.
            logger.warning("Email %s: attachment %s is gone", email.pk, attachment)
            continue
        message.attach(attachment["filename"], content, attachment["content_type"])
    # The checkpoint before the one thing that cannot be undone: an attempt
    # that lost the job to another worker stops here instead of sending twice.
    jobs.job_progress(email, progress=50, stage="Sending")
    try:
        message.send()
    except SoftTimeLimitExceeded:
        jobs.job_retry_or_fail(email, reason="mail server too slow")
    except smtplib.SMTPRecipientsRefused as exc:
        jobs.job_fail(
            email,
            message=f"The mail server refused the address {email.to_address}.",
            detail=str(exc),
        )
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:  # Permanent: sending again gets the same answer.
            jobs.job_fail(
                email,
                message=f"The mail server refused the email ({exc.smtp_code}).",
                detail=str(exc),
            )
            return
        logger.warning("Email %s not sent: %s", email.pk, exc)
        jobs.job_retry_or_fail(email, reason="mail server busy", detail=str(exc))
    except (smtplib.SMTPException, OSError) as exc:
        logger.warning("Email %s not sent: %s", email.pk, exc)
        jobs.job_retry_or_fail(email, reason="mail server unreachable", detail=str(exc))
    else:
        jobs.job_succeed(email, stage="Delivered", sent_at=timezone.now())
        logger.info("Email %s sent to %s", email.pk, email.to_address)
