from django.db.models import Q, QuerySet

from apps.notifications.models import Notification, OutgoingEmail

# Emails whose links act for their recipient (set a password, verify an
# address): only the recipient reads them, never staff.
PRIVATE_TEMPLATES = ("password_reset", "verify_email", "welcome")


def mailbox_emails(*, user, shared_keys=()) -> QuerySet[OutgoingEmail]:
    """The emails `user` may read at /mailbox/: never another person's.

    A user reads their own emails. Staff read every email but other people's
    private ones: a reset link would let any staff member take over any
    account, a superuser's included. And a browser reads the emails shared
    with it (`shared_keys`, from its session): in demo mode, the reset email
    of the address it asked a reset for (see services.mailbox_share).
    """
    emails = OutgoingEmail.objects.select_related("owner")
    shared = Q(idempotency_key__in=list(shared_keys))
    if user.is_staff:
        return emails.exclude(~Q(owner=user), template__in=PRIVATE_TEMPLATES)
    if user.is_authenticated:
        return emails.filter(Q(owner=user) | shared)
    return emails.filter(shared)


def welcome_email_for(user) -> OutgoingEmail | None:
    return OutgoingEmail.objects.filter(owner=user, template="welcome").first()


def email_sent_since(*, owner, template: str, since) -> bool:
    """Whether `owner` was sent (or is being sent) a `template` email since."""
    return OutgoingEmail.objects.filter(
        owner=owner, template=template, created_at__gte=since
    ).exists()


def notifications_of(user) -> QuerySet[Notification]:
    return Notification.objects.filter(owner=user)


def unread_count(user) -> int:
    return Notification.objects.filter(owner=user, read_at=None).count()
