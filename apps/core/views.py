import logging
from functools import wraps
from urllib.parse import urlencode, urlsplit

from celery import current_app
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import connection
from django.http import Http404, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render, resolve_url
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe

from apps.core import cancel, selectors, status
from apps.core.models import Job

logger = logging.getLogger(__name__)


@require_safe
def home(request):
    return render(request, "core/home.html")


@require_safe
def favicon(request):
    """Browsers ask for /favicon.ico on pages that name no icon (the admin's,
    /healthz): the one icon there is, where it is."""
    return redirect(static("favicon.svg"))


@never_cache
@require_safe
def healthz(request):
    """Liveness: the process answers. Checks nothing else, so a database outage
    does not get every web container restarted."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_safe
def readyz(request):
    """Readiness: the database answers. The broker is reported too, but does
    not make the process unready: every web process shares the one broker,
    so failing on it would take the whole site out of service, while the
    pages work without it (a job started meanwhile says it is waiting for
    the job queue, and the sweeper publishes it once the broker is back)."""
    database, broker = _database_ready(), _broker_ready()
    return JsonResponse(
        {
            "database": "ok" if database else "unavailable",
            "broker": "ok" if broker else "unavailable",
        },
        status=200 if database else 503,
    )


def _database_ready() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return True
    except Exception:  # Any failure means not ready; the log says which.
        logger.exception("Readiness: database unavailable")
        return False


def _broker_ready() -> bool:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:  # Any failure means not ready; the log says which.
        logger.exception("Readiness: broker unavailable")
        return False


# The job endpoints below serve every job type, addressed by its model's label
# ("orders.payment"), and only to the job's owner: anyone else, and any id
# that does not exist, gets 404 (a poll from htmx gets 286, which stops it,
# and a box that says the job is gone).

MAX_LIST_IDS = 100


def htmx_login_required(view):
    """login_required that, for an htmx poll after the session expired, sends
    the whole page to the login form rather than the form into the box."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if _is_htmx(request):
            page = urlsplit(request.headers.get("HX-Current-URL", "")).path
            response = HttpResponse(status=204)
            response["HX-Redirect"] = (
                f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': page or '/'})}"
            )
            return response
        return redirect_to_login(request.get_full_path())

    return wrapper


def _job_model(label: str) -> type[Job]:
    model = selectors.job_model(label)
    if model is None:
        raise Http404
    return model


@never_cache
@require_safe
def job_status(request, label, pk):
    """The live status box of one job; it polls itself until the job is final.

    A poll that finds the job as the page shows it is answered 204, which
    htmx leaves alone, at the cost of one small query at most
    (status.box_unchanged; bench/polling.py measures it)."""
    model = _job_model(label)
    if _is_htmx(request) and status.box_unchanged(
        model,
        pk,
        session=status.session_cookie(request),
        version=request.GET.get("v", ""),
    ):
        return HttpResponse(status=204)
    return _job_status_box(request, model, pk)


@htmx_login_required
def _job_status_box(request, model, pk):
    # The long columns (an email's bodies) stay in the database: the box, asked
    # for every second, shows none of them.
    job = (
        model.objects.defer(*selectors.long_columns(model))
        .filter(pk=pk, owner=request.user)
        .first()
    )
    if job is None:
        if _is_htmx(request):
            # 286 tells htmx to stop polling; the box says why.
            return render(request, "core/_job_gone.html", status=286)
        raise Http404
    context = {**status.box_context(job, request), "polled": True}
    return render(request, job.status_template, context)


@require_POST
@htmx_login_required
def job_cancel(request, label, pk):
    """Cancel the job for its owner; answer with its box (htmx) or go back."""
    job = get_object_or_404(_job_model(label), pk=pk, owner=request.user)
    cancelled = cancel.job_cancel(job)
    if _is_htmx(request):
        context = {**status.box_context(job, request), "polled": True}
        if not cancelled:
            context["notice"] = "It can no longer be cancelled."
        return render(request, job.status_template, context)
    if cancelled:
        messages.success(request, "Cancelled.")
    else:
        messages.info(request, "It can no longer be cancelled.")
    next_url = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = resolve_url("core:home")
    return redirect(next_url)


@never_cache
@require_safe
@htmx_login_required
def job_list_status(request, label):
    """The state of many jobs of one type at once: ?id=1&id=2...

    For htmx, each job's badge, swapped into the page out of band; once every
    job is final it answers 286 and the poller stops. Otherwise JSON. Ids that
    are not the user's are left out, as if they did not exist.
    """
    model = _job_model(label)
    values = request.GET.getlist("id")[:MAX_LIST_IDS]
    # Plain digits that fit a database id; anything else is refused.
    if not all(
        value.isascii() and value.isdigit() and len(value) <= 18 for value in values
    ):
        return HttpResponseBadRequest("id must be whole numbers")
    ids = [int(value) for value in values]
    jobs = list(selectors.jobs_of(model, owner=request.user, ids=ids))
    if _is_htmx(request):
        all_final = all(job.is_final for job in jobs)
        return render(
            request,
            "core/_job_badges.html",
            {"jobs": jobs},
            status=286 if all_final else 200,
        )
    return JsonResponse({"jobs": [status.job_json(job) for job in jobs]})


def _is_htmx(request) -> bool:
    # From META: request.headers builds a dict of every header, and a status
    # poll asks this once a second.
    return request.META.get("HTTP_HX_REQUEST") == "true"
