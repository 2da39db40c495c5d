from apps.notifications import services


def mailbox(request):
    """Whether to offer the Mailbox link: to a logged-in user, and to a
    browser an email was shared with (a password reset, in demo mode)."""
    return {
        "has_mailbox": request.user.is_authenticated
        or bool(services.mailbox_shared_keys(request.session))
    }
