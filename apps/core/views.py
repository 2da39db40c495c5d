import logging
from urllib.parse import urlencode, urlsplit

from celery import current_app
from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.core.models import Job

logger = logging.getLogger(__name__)


@require_safe
def home(request):
    return render(request, "core/home.html")


@never_cache
@require_safe
def healthz(request):
    """Liveness: the process answers. Checks nothing else, so a database outage
    does not get every web container restarted."""
    return HttpResponse("ok", content_type="text/plain")


@never_cache
@require_safe
def readyz(request):
    """Readiness: the database and the broker answer."""
    checks = {"database": _database_ready(), "broker": _broker_ready()}
    status = 200 if all(checks.values()) else 503
    return JsonResponse(
        {name: "ok" if ok else "unavailable" for name, ok in checks.items()},
        status=status,
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


class JobStatusView(LoginRequiredMixin, View):
    """The live status fragment of one job, for its owner only.

    Pages include it once; while the job is not final the fragment asks for
    itself again every second (htmx), and a final state renders it without
    the polling attributes, so polling stops on its own.
    """

    model: type[Job]
    # A page-specific fragment may wrap core/_job_status.html to update more
    # of the page at each poll (htmx out-of-band swaps).
    template_name = "core/_job_status.html"
    # Shown inside the fragment once the job has succeeded, or failed.
    done_template = ""
    failed_template = ""

    def get(self, request, pk):
        job = self.model.objects.filter(pk=pk, owner=request.user).first()
        if job is None:
            if _is_htmx(request):
                # 286 tells htmx to stop polling; the box says why.
                return HttpResponse(
                    '<p class="job-error">This job no longer exists.</p>', status=286
                )
            raise Http404
        return render(request, self.template_name, self.get_context(job))

    def get_context(self, job):
        return {
            "job": job,
            "poll_url": self.request.path,
            "done_template": self.done_template,
            "failed_template": self.failed_template,
        }

    def handle_no_permission(self):
        if _is_htmx(self.request):
            # A poll after the session expired: send the whole page to the
            # login form, rather than the login form into the status box.
            page = urlsplit(self.request.headers.get("HX-Current-URL", "")).path
            response = HttpResponse(status=204)
            response["HX-Redirect"] = (
                f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': page or '/'})}"
            )
            return response
        return super().handle_no_permission()


def _is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"
