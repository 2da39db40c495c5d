from django.conf import settings
from django.utils.cache import add_never_cache_headers


class PrivacyHeadersMiddleware:
    """Headers Django's own middleware does not send.

    - Permissions-Policy on every response: no page uses the camera, the
      microphone, location or the payment API, so no page may.
    - Cache-Control: no-store on everything a logged-in user is shown (their
      pages, their job statuses), so neither a shared computer's back button
      nor a proxy ever shows it to the next person. Static files keep their
      long cache: WhiteNoise answers them before anyone is logged in.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
