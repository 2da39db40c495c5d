from django.utils.functional import SimpleLazyObject

from apps.notifications import selectors, services


def mailbox(request):
    """Whether to offer the Mailbox link: to a logged-in user, and to a
    browser an email was shared with (a password reset, in demo mode)."""
    # An error page (a 400 for a bad Host) may come before the middleware
    # that sets these.
    user, session = getattr(request, "user", None), getattr(request, "session", None)
    return {
        "has_mailbox": bool(user and user.is_authenticated)
        or bool(session is not None and services.mailbox_shared_keys(session))
    }


def notifications(request):
    """How many notifications the user has not read, for the navigation.

    Lazy: counted only when a template shows it (a whole page), not for every
    fragment a page polls (a job's status box, every second).
    """
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {}
    return {
        "unread_notifications": SimpleLazyObject(lambda: selectors.unread_count(user))
    }
