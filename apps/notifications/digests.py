"""
The daily digest: one email a day, to each user who asked for it, listing
the notifications of the last day they have not read, except the kinds they
get by email one by one already.

Beat runs `digests_send` once a day; it finds who should get one and
publishes a `digest_deliver` task per chunk of DIGEST_CHUNK_SIZE users, as a
Celery group on the bulk queue. Each digest is an OutgoingEmail whose
idempotency key names the user and the day, so a user gets at most one a day
however often beat, the fan-out or a chunk runs.
"""

from datetime import date, timedelta

from celery import current_app, group
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from apps.notifications import services
from apps.notifications.models import Notification, NotificationPreferences

# Notifications listed in one digest; the rest are counted.
DIGEST_LISTED = 20


def digests_send(*, day: date | None = None) -> str:
    """Publish the day's digest chunks; what it did, in words."""
    day = day or timezone.localdate()
    since = timezone.now() - timedelta(days=1)
    ids = list(
        NotificationPreferences.objects.filter(digest=True, owner__is_active=True)
        .filter(
            owner__in=Notification.objects.filter(
                read_at=None, created_at__gte=since
            ).values("owner")
        )
        .order_by("owner")
        .values_list("owner", flat=True)
    )
    size = settings.DIGEST_CHUNK_SIZE
    chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
    if chunks:
        group(
            current_app.signature(
                "apps.notifications.tasks.digest_deliver",
                args=(day.isoformat(), chunk),
                immutable=True,
            )
            for chunk in chunks
        ).apply_async()
    people = f"{len(ids)} {'person' if len(ids) == 1 else 'people'}"
    plural = "s" if len(chunks) != 1 else ""
    return f"Digests for {day}: {people}, {len(chunks)} chunk{plural}."


def digest_deliver(*, day: date, user_ids) -> int:
    """Queue the digest of each of these users who still has something new
    unread; how many were queued (again or not: the key keeps it once)."""
    queued = 0
    since = timezone.now() - timedelta(days=1)
    preferences = {
        preferences.owner_id: preferences
        for preferences in NotificationPreferences.objects.filter(
            owner__in=user_ids, digest=True
        )
    }
    users = get_user_model().objects.filter(pk__in=list(preferences), is_active=True)
    url = settings.SITE_URL + reverse("notifications:list")
    for user in users:
        unread = Notification.objects.filter(
            owner=user, read_at=None, created_at__gte=since
        ).exclude(kind__in=preferences[user.pk].email_kinds)
        listed = list(unread[:DIGEST_LISTED])
        if not listed:
            continue  # Read since the fan-out looked, or all emailed already.
        services.email_queue(
            owner=user,
            template="digest",
            context={
                "notifications": listed,
                "unread": unread.count(),
                "day": day,
                "url": url,
            },
            idempotency_key=f"digest:{user.pk}:{day.isoformat()}",
        )
        queued += 1
    return queued
