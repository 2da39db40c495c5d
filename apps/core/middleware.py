from django.conf import settings
from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers

from apps.core import logs


class PrivacyHeadersMiddleware:
    """Headers Django's own middleware does not send.

    - Permissions-Policy on every response: no page uses the camera, the
      microphone, location or the payment API, so no page may.
    - Cache-Control: no-store on everything a logged-in user is shown (their
      pages, their job statuses), and on every page drawn from a browser's
      session (a logged-out browser's mailbox holds the reset link it asked
      for), so neither a shared computer's back button nor a proxy ever
      shows it to the next person. Static files keep their long cache:
      WhiteNoise answers them before anyone is logged in.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        if "no-store" in response.get("Cache-Control", ""):
            # Already never stored (every job status answer): no need to
            # load the user to find out, so a status poll answered 204
            # stays a one-query request.
            return response
        # Asked first: finding out who the user is reads the session too.
        session = getattr(request, "session", None)
        from_session = session is not None and session.accessed
        if from_session and not session.is_empty():
            add_never_cache_headers(response)
            return response
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response


class RequestSizeLimitMiddleware:
    """Refuse a request whose body is over REQUEST_MAX_BYTES, from its
    Content-Length, before anything reads the body.

    Without it Django spools every uploaded file to disk before the view
    can look at its size, and the CSRF check reads the whole body first:
    a 10 GB post would fill the disk. The views keep their own, smaller
    limits with friendlier messages; this one is the floor under them.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django's request parsing answers a bad header.
        if length > settings.REQUEST_MAX_BYTES:
            limit = filesizeformat(settings.REQUEST_MAX_BYTES)
            html = render_to_string("413.html", {"limit": limit}, request=request)
            # Not "Connection: close": a WSGI application may not set it
            # (runserver answers 500); gunicorn closes a connection whose
            # body was left unread by itself.
            return HttpResponse(html, status=413)
        return self.get_response(request)


class RequestIdMiddleware:
    """Send the request's id back (X-Request-ID), the one its log lines carry
    (apps.core.logs), so that a user's report finds its lines."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if rid := logs.request_id.get():
            response.headers.setdefault("X-Request-ID", rid)
        return response
