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
from django.core.cache import caches
from django.shortcuts import render
from django_ratelimit import core as ratelimit_core
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
    again. Every POST is counted before the view runs (so that many sent at
    once cannot all slip under a limit), and given back when the view did
    not act on it, which it says by not redirecting: a form sent back with
    its errors costs nothing, so a newcomer who mistypes is never locked
    out. GETs (showing the form) are never limited or counted."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method != "POST":
                return view(request, *args, **kwargs)
            wait, counted = count(request, group, limits)
            if wait is not None:
                return too_many_requests(request, wait)
            response = view(request, *args, **kwargs)
            if not 300 <= response.status_code < 400:
                give_back(counted)
            return response

        return wrapper

    return decorator


def count(request, group: str, limits) -> tuple[int | None, list[str]]:
    """Count this request against every limit: (None if all allow it, else
    how long until the strictest one does; the cache keys counted)."""
    waits, counted = [], []
    for limit in limits:
        rate = getattr(settings, limit.setting)
        try:
            # django-ratelimit's own key for the count get_usage adds to, so
            # that give_back takes from the same one.
            value = limit.key(group, request)
            window = ratelimit_core._get_window(
                value, ratelimit_core._split_rate(rate)[1]
            )
            usage = get_usage(
                request,
                group=f"{group}:{limit.setting}",
                key=lambda group, request, value=value: value,
                rate=rate,
                method=["POST"],
                increment=True,
            )
        except Exception:  # The cache (Redis) is down: serve, and say so.
            logger.warning("Rate limit %s not checked: cache unavailable", group)
            continue
        if not usage:
            continue
        counted.append(
            ratelimit_core._make_cache_key(
                f"{group}:{limit.setting}", window, rate, value, ["POST"]
            )
        )
        if usage["should_limit"]:
            waits.append(usage["time_left"])
    return (max(waits) if waits else None), counted


def give_back(counted: list[str]) -> None:
    """Take back what count() added (a window that ended meanwhile, gone
    from the cache, has nothing to give back)."""
    cache = caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]
    for key in counted:
        try:
            if cache.get(key, 0) > 0:
                cache.decr(key)
        except Exception:  # Gone meanwhile, or the cache is down.
            logger.warning("Rate limit count not given back")


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
