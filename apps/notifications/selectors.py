from django.conf import settings
from django.db.models import Q, QuerySet

from apps.notifications.models import OutgoingEmail

# Emails whose links act for their recipient (set a password, verify an
# address): only the recipient reads them, outside demo mode.
PRIVATE_TEMPLATES = ("password_reset", "verify_email", "welcome")


def mailbox_emails(*, user) -> QuerySet[OutgoingEmail]:
    """The emails `user` may read at /mailbox/.

    Everyone sees every email while DEBUG is on, which is what lets a
    logged-out demo user read a password-reset email. Staff see every email
    but other people's private ones: a reset link would let any staff member
    take over any account, a superuser's included.
    """
    emails = OutgoingEmail.objects.select_related("owner")
    if settings.DEBUG:
        return emails
    if user.is_staff:
        return emails.exclude(~Q(owner=user), template__in=PRIVATE_TEMPLATES)
    if user.is_authenticated:
        return emails.filter(owner=user)
    return emails.none()


def welcome_email_for(user) -> OutgoingEmail | None:
    return OutgoingEmail.objects.filter(owner=user, template="welcome").first()
