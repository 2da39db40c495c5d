from django.conf import settings
from django.db.models import QuerySet

from apps.notifications.models import OutgoingEmail


def mailbox_emails(*, user) -> QuerySet[OutgoingEmail]:
    """The emails `user` may read at /mailbox/.

    Staff see every email; so does everyone while DEBUG is on, which is what
    lets a logged-out demo user read a password-reset email.
    """
    emails = OutgoingEmail.objects.select_related("owner")
    if settings.DEBUG or user.is_staff:
        return emails
    if user.is_authenticated:
        return emails.filter(owner=user)
    return emails.none()


def welcome_email_for(user) -> OutgoingEmail | None:
    return OutgoingEmail.objects.filter(owner=user, template="welcome").first()
