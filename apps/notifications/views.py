from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from apps.core import downloads
from apps.core import selectors as job_selectors
from apps.core.models import Job
from apps.core.views import htmx_login_required
from apps.notifications import activity as activity_selectors
from apps.notifications import announcements, selectors, services
from apps.notifications.forms import AnnouncementForm, PreferencesForm
from apps.notifications.models import Announcement

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


# Notifications


@login_required
@require_safe
def notification_list(request):
    page = Paginator(selectors.notifications_of(request.user), 50).get_page(
        request.GET.get("page")
    )
    return render(request, "notifications/notification_list.html", {"page": page})


@htmx_login_required
@require_safe
def notification_bell(request):
    """The navigation's bell, asked for every few seconds with the count the
    page shows (?count=): 204 while it is the same, so a poll costs one small
    query and swaps nothing."""
    unread = selectors.unread_count(request.user)
    if request.GET.get("count") == str(unread):
        return HttpResponse(status=204)
    return render(request, "notifications/_bell.html", {"unread_notifications": unread})


@login_required
@require_safe
def notification_open(request, pk):
    """Follow a notification to its object, marking it read on the way."""
    notification = get_object_or_404(selectors.notifications_of(request.user), pk=pk)
    services.notifications_mark_read(owner=request.user, pk=notification.pk)
    # Stored by our own code, but a link is followed only to this site.
    if notification.url and url_has_allowed_host_and_scheme(
        notification.url, allowed_hosts=None
    ):
        return redirect(notification.url)
    return redirect("notifications:list")


@login_required
@require_POST
def notifications_read(request):
    """Mark one notification read (?pk= in the form), or all of them."""
    pk = request.POST.get("pk")
    if pk is not None and not (pk.isascii() and pk.isdigit() and len(pk) <= 18):
        return HttpResponseBadRequest("pk must be a notification's id")
    services.notifications_mark_read(
        owner=request.user, pk=int(pk) if pk is not None else None
    )
    return redirect(_next_or(request, "notifications:list"))


@login_required
def notification_settings(request):
    preferences = services.preferences_of(request.user)
    form = PreferencesForm(
        request.POST or None,
        initial={"email_kinds": preferences.email_kinds, "digest": preferences.digest},
    )
    if request.method == "POST" and form.is_valid():
        services.preferences_save(owner=request.user, **form.cleaned_data)
        messages.success(request, "Your notification settings are saved.")
        return redirect("notifications:settings")
    return render(request, "notifications/settings.html", {"form": form})


def _next_or(request, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}
    ):
        return target
    return reverse(default)


# Activity


@htmx_login_required
@require_safe
def activity(request):
    """Every job of the user's, of every type; the table refreshes itself
    every few seconds (the fragment alone, for htmx)."""
    kind = request.GET.get("kind", "")
    state = request.GET.get("state", "")
    kinds = dict(job_selectors.job_types())
    if kind not in kinds:
        kind = ""
    if state not in Job.Status.values:
        state = ""
    before = activity_selectors.Cursor.parse(request.GET.get("before", ""))
    page = activity_selectors.activity_of(
        request.user, kind=kind, state=state, before=before
    )
    context = {
        "page": page,
        "kind": kind,
        "state": state,
        "before": before,
        "kinds": kinds,
        "states": Job.Status.choices,
        "filters": urlencode(
            {k: v for k, v in (("kind", kind), ("state", state)) if v}
        ),
    }
    if request.headers.get("HX-Request") == "true":
        return render(request, "notifications/_activity_table.html", context)
    return render(request, "notifications/activity.html", context)


# Announcements (staff)


def _staff_only(request):
    # Not a login redirect: to anyone else the page does not exist.
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404


def announcement_list(request):
    _staff_only(request)
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    sizes = {
        value: announcements.audience_of(value).count()
        for value in Announcement.Audience.values
    }
    form = AnnouncementForm(request.POST or None, audience_sizes=sizes)
    if request.method == "POST" and form.is_valid():
        announcements.announcement_create(owner=request.user, **form.cleaned_data)
        messages.success(request, "The announcement is on its way.")
        return redirect("notifications:announcements")
    context = {
        "form": form,
        "chunk_size": settings.ANNOUNCEMENT_CHUNK_SIZE,
        **_announcements(),
    }
    return render(request, "notifications/announcements.html", context)


def announcement_table(request):
    """The list alone, polled while an announcement is being delivered."""
    _staff_only(request)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    return render(request, "notifications/_announcement_table.html", _announcements())


def _announcements() -> dict:
    shown = announcements.announcements_with_delivery(
        Announcement.objects.select_related("owner").order_by("-created_at")[:20]
    )
    return {
        "announcements": shown,
        "delivering": any(announcement.delivering for announcement in shown),
        "bulk_rate": settings.EMAIL_BULK_RATE_LIMIT,
    }


@login_required
@require_safe
def announcement_detail(request, pk):
    """An announcement in full, for the people it was sent to."""
    announcement = announcements.announcement_for_reader(request.user, pk)
    if announcement is None:
        raise Http404
    return render(
        request,
        "notifications/announcement_detail.html",
        {"announcement": announcement},
    )


@csrf_exempt  # A mail provider's one-click POST carries no CSRF token.
def unsubscribe(request, token):
    """Stop announcements by email, or the digest, from the link in one:
    GET asks, POST (the page's button, or the provider's one click) does."""
    found = services.unsubscribe_read(token)
    user = found and get_user_model().objects.filter(pk=found[0]).first()
    if not user:
        raise Http404
    topic = found[1]
    done = False
    if request.method == "POST":
        services.unsubscribe(owner=user, topic=topic)
        done = True
    elif request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    what = "the daily digest" if topic == "digest" else "announcements by email"
    return render(
        request, "notifications/unsubscribe.html", {"what": what, "done": done}
    )
