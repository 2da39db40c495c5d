from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from apps.core.views import JobStatusView
from apps.notifications import selectors
from apps.notifications.models import OutgoingEmail

MAILBOX_PAGE_SIZE = 50


def _mailbox_allowed(request) -> bool:
    return request.user.is_authenticated or settings.DEBUG


@require_safe
def mailbox(request):
    if not _mailbox_allowed(request):
        return redirect_to_login(request.get_full_path())
    return render(request, "notifications/mailbox.html", _mailbox_context(request))


@require_safe
def mailbox_list(request):
    """The list alone, polled by the mailbox page so new emails appear by themselves."""
    if not _mailbox_allowed(request):
        return redirect_to_login(request.get_full_path())
    return render(
        request, "notifications/_mailbox_list.html", _mailbox_context(request)
    )


def _mailbox_context(request):
    emails = list(selectors.mailbox_emails(user=request.user)[: MAILBOX_PAGE_SIZE + 1])
    return {
        "emails": emails[:MAILBOX_PAGE_SIZE],
        "more_emails": len(emails) > MAILBOX_PAGE_SIZE,
        "page_size": MAILBOX_PAGE_SIZE,
        "shows_everyone": settings.DEBUG or request.user.is_staff,
    }


@require_safe
def email_detail(request, pk):
    if not _mailbox_allowed(request):
        return redirect_to_login(request.get_full_path())
    email = get_object_or_404(selectors.mailbox_emails(user=request.user), pk=pk)
    return render(request, "notifications/email_detail.html", {"email": email})


class EmailStatusView(JobStatusView):
    model = OutgoingEmail
    done_template = "notifications/_email_sent.html"
