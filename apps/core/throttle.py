"""
Limits on how often one client, or one account, may do something costly:
sign up, ask for a password reset, have a verification email sent again.
(Logins are limited by django-axes; see the Accounts block of the settings.)

Counting is django-ratelimit's, in the default cache: Redis when REDIS_URL is
set, so every web process shares the counts; otherwise this process's memory.
Each limit is a setting such as "5/h", read at request time, so a load test
or a classroom behind one address can raise them from the environment.

    @throttle(
        "password-reset",
        by_client("RATE_LIMIT_RESET_PER_CLIENT"),
        by_post("email", "RATE_LIMIT_RESET_PER_ADDRESS"),
    )
    def password_reset(request): ...
"""

import logging
import math
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.conf import settings
from django.shortcuts import render
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)


def client_address(request) -> str:
    """The client's IP address: the connection's, or, behind TRUSTED_PROXIES
    proxies, the one the outermost of them added to X-Forwarded-For.

    Counted from the right: a client can put anything at the left of the
    header, but each trusted proxy appends the address it saw.
    """
    proxies = settings.TRUSTED_PROXIES
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if proxies and forwarded:
        # Fewer entries than proxies: the leftmost is the outermost hop
        # there was. (A client that can reach past a proxy can forge the
        # header anyway: the README says never to allow that.)
        return forwarded[-min(proxies, len(forwarded))]
    return request.META.get("REMOTE_ADDR", "")


@dataclass(frozen=True)
class Limit:
    """One limit: what it counts by (`key`), and the setting holding its rate."""

    key: Callable
    setting: str


def by_client(setting: str) -> Limit:
    return Limit(lambda group, request: client_address(request), setting)


def by_account(setting: str) -> Limit:
    return Limit(lambda group, request: f"user:{request.user.pk}", setting)


def by_post(field: str, setting: str) -> Limit:
    """Counted by a posted value, such as the address a reset is asked for,
    folded as Django compares addresses ("ſam@" is "sam@")."""
    return Limit(lambda group, request: fold(request.POST.get(field, "")), setting)


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def throttle(group: str, *limits: Limit):
    """Answer 429 to a POST once any of `limits` is used up, saying when to try
    again. A POST counts once it was acted on, which the view says by
    redirecting (as it does after a valid form): a form sent back with its
    errors costs nothing, so a newcomer who mistypes is never locked out.
    GETs (showing the form) are never limited or counted."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method != "POST":
                return view(request, *args, **kwargs)
            wait = seconds_until_allowed(request, group, limits)
            if wait is not None:
                return too_many_requests(request, wait)
            response = view(request, *args, **kwargs)
            if 300 <= response.status_code < 400:
                count(request, group, limits)
            return response

        return wrapper

    return decorator


def seconds_until_allowed(request, group: str, limits) -> int | None:
    """None if every limit allows one more, else how long until the strictest
    one does."""
    waits = [
        usage["time_left"]
        for usage in _usages(request, group, limits, increment=False)
        if usage["count"] >= usage["limit"]
    ]
    return max(waits) if waits else None


def count(request, group: str, limits) -> None:
    """Count this request against every limit."""
    _usages(request, group, limits, increment=True)


def _usages(request, group: str, limits, *, increment: bool) -> list[dict]:
    """django-ratelimit's usage of each limit (counted first, with
    `increment`); a limit the cache could not tell is left out."""
    usages = []
    for limit in limits:
        try:
            usage = get_usage(
                request,
                group=f"{group}:{limit.setting}",
                key=limit.key,
                rate=getattr(settings, limit.setting),
                method=["POST"],
                increment=increment,
            )
        except Exception:  # The cache (Redis) is down: serve, and say so.
            logger.warning("Rate limit %s not checked: cache unavailable", group)
            continue
        if usage:
            usages.append(usage)
    return usages


def too_many_requests(
    request, seconds: float, *, what: str = "You tried this too many times"
):
    """The 429 page, saying when to try again (and a Retry-After header)."""
    minutes = max(1, math.ceil(seconds / 60))
    message = (
        f"{what} in a short while. Try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''}."
    )
    response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(max(1, math.ceil(seconds)))
    return response


def login_username(request, credentials) -> str:
    """The address a login attempt is for, as django-axes counts failures:
    in one case, since logins ignore case (ADMIN@ and admin@ are one account)."""
    username = (credentials or {}).get("username") or request.POST.get("username")
    return fold(username or "")


def login_locked_out(request, credentials):
    """django-axes' answer once an account or a client has failed too often."""
    return too_many_requests(
        request,
        settings.AXES_COOLOFF_TIME.total_seconds(),
        what="Too many failed log-ins for this account or from your address",
    )
