from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.core import downloads
from apps.notifications import selectors, services

MAILBOX_PAGE_SIZE = 50


def _mailbox_allowed(request) -> bool:
    return request.user.is_authenticated or bool(_shared_keys(request))


def _shared_keys(request) -> list[str]:
    return services.mailbox_shared_keys(request.session)


def _emails(request):
    return selectors.mailbox_emails(
        user=request.user, shared_keys=_shared_keys(request)
    )


@require_safe
def mailbox(request):
    if not _mailbox_allowed(request):
        return redirect_to_login(request.get_full_path())
    return render(request, "notifications/mailbox.html", _mailbox_context(request))


@require_safe
def mailbox_list(request):
    """The list alone, asked for by the mailbox page every few seconds with the
    newest id it shows (?after=): 204 while nothing newer has arrived, so new
    emails appear by themselves at the cost of one small query. (Their states
    stay live through core's list-status endpoint.)"""
    if not _mailbox_allowed(request):
        return redirect_to_login(request.get_full_path())
    after = request.GET.get("after", "")
    emails = _emails(request)
    # Emails not the viewer's own (staff see others', a browser its shared
    # reset email) still being sent are not theirs to poll at the list-status
    # endpoint: the list refreshes for them.
    pending = request.GET.get("pending") == "1"
    if (
        after.isdigit()
        and not pending
        and not emails.filter(pk__gt=int(after)).exists()
    ):
        return HttpResponse(status=204)
    return render(
        request, "notifications/_mailbox_list.html", _mailbox_context(request)
    )


def _mailbox_context(request):
    emails = list(_emails(request)[: MAILBOX_PAGE_SIZE + 1])
    shown = emails[:MAILBOX_PAGE_SIZE]
    return {
        "emails": shown,
        "own_emails": [e for e in shown if e.owner_id == request.user.pk],
        "others_pending": any(
            not e.is_final for e in shown if e.owner_id != request.user.pk
        ),
        "more_emails": len(emails) > MAILBOX_PAGE_SIZE,
        "page_size": MAILBOX_PAGE_SIZE,
        "shows_everyone": request.user.is_staff,
    }


@require_safe
def email_detail(request, pk):
    if not _mailbox_allowed(request):
        return redirect_to_login(request.get_full_path())
    email = get_object_or_404(_emails(request), pk=pk)
    return render(request, "notifications/email_detail.html", {"email": email})


@login_required
@require_safe
def email_attachment(request, pk, number):
    """A file attached to one of the user's own emails (an invoice): to its
    recipient only, whoever else may read the email in the mailbox."""
    email = get_object_or_404(selectors.mailbox_emails(user=request.user), pk=pk)
    if email.owner_id != request.user.pk or not 1 <= number <= len(email.attachments):
        raise Http404("No such attachment.")
    attachment = email.attachments[number - 1]
    return downloads.stored_pdf_response(
        attachment["name"], attachment["filename"], download=True
    )


@login_required
@require_safe
def notification_list(request):
    page = Paginator(selectors.notifications_of(request.user), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "notifications/notification_list.html", {"page": page})


@login_required
@require_POST
def notifications_read(request):
    services.notifications_mark_read(owner=request.user)
    return redirect("notifications:list")
