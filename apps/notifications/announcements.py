"""
Announcements: a staff member writes one message, a worker tells every user
in its audience.

- announcement_create: the row, a job of apps.core, and its task.
- announcement_fan_out (the job's task): splits the audience into chunks of
  ANNOUNCEMENT_CHUNK_SIZE users and publishes one `announcement_deliver`
  task per chunk, as a Celery group on the bulk queue.
- announcement_deliver (one chunk): each user's notification, and email if
  their preferences say so, in one transaction that also records the chunk
  as done. A chunk delivered twice (a redelivered message, the fan-out run
  again) finds its record and does nothing: each user is told once.
"""

from datetime import timedelta

from celery import current_app, group
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from apps.core import services as jobs
from apps.notifications import services
from apps.notifications.models import (
    Announcement,
    AnnouncementChunk,
    Notification,
    NotificationPreferences,
)


def audience_of(audience: str, *, now=None) -> QuerySet:
    """The users an announcement to `audience` goes to."""
    users = get_user_model().objects.filter(is_active=True)
    if audience == Announcement.Audience.VERIFIED:
        users = users.exclude(email_verified_at=None)
    elif audience == Announcement.Audience.RECENT:
        users = users.filter(
            date_joined__gte=(now or timezone.now()) - timedelta(days=30)
        )
    elif audience == Announcement.Audience.STAFF:
        users = users.filter(is_staff=True)
    return users


@transaction.atomic
def announcement_create(
    *, owner, subject: str, body: str, audience: str
) -> Announcement:
    announcement = Announcement.objects.create(
        owner=owner, subject=subject, body=body, audience=audience
    )
    jobs.job_enqueue(announcement)
    return announcement


def announcement_fan_out(announcement: Announcement) -> None:
    """Publish one delivery task per chunk of the audience (the job's work).

    The audience is read once, here: whoever joins later is not told. Run
    again (a retry, a redelivery), it publishes the same chunks, which the
    ones already delivered ignore.
    """
    ids = list(
        audience_of(announcement.audience, now=announcement.created_at)
        .filter(date_joined__lte=announcement.created_at)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    size = settings.ANNOUNCEMENT_CHUNK_SIZE
    chunks = [ids[start : start + size] for start in range(0, len(ids), size)]
    Announcement.objects.filter(pk=announcement.pk).update(
        recipients=len(ids), chunks=len(chunks)
    )
    jobs.job_progress(
        announcement, progress=50, stage=f"Sending to {len(ids):,} people"
    )
    if chunks:
        group(
            current_app.signature(
                "apps.notifications.tasks.announcement_deliver",
                args=(announcement.pk, number, chunk),
                immutable=True,
            )
            for number, chunk in enumerate(chunks)
        ).apply_async()
    plural = "s" if len(chunks) != 1 else ""
    jobs.job_succeed(
        announcement, stage=f"Handed to the workers in {len(chunks)} chunk{plural}"
    )


def announcement_deliver(*, announcement: Announcement, number: int, user_ids) -> int:
    """Tell the users of chunk `number`; how many were told (0 if the chunk
    was delivered already)."""
    try:
        with transaction.atomic():
            # First: a second delivery of the chunk running at the same time
            # waits here for this one, then fails on the unique constraint.
            chunk = AnnouncementChunk.objects.create(
                announcement=announcement, number=number, delivered=0
            )
            chunk.delivered = _tell(announcement, user_ids)
            chunk.save(update_fields=["delivered"])
    except IntegrityError:
        return 0  # Delivered already.
    return chunk.delivered


def _tell(announcement: Announcement, user_ids) -> int:
    users = list(get_user_model().objects.filter(pk__in=user_ids, is_active=True))
    preferences = {
        preferences.owner_id: preferences
        for preferences in NotificationPreferences.objects.filter(owner__in=user_ids)
    }
    url = reverse("notifications:list")
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                owner=user,
                kind="announcement",
                message=f"{announcement.subject}: {announcement.body}"[:300],
                url=url,
                idempotency_key=f"announcement:{announcement.pk}:{user.pk}",
            )
            for user in users
        ],
        ignore_conflicts=True,
    )
    for user, notification in zip(users, notifications, strict=True):
        if services.email_wanted(preferences.get(user.pk), "announcement"):
            services.email_queue(
                owner=user,
                template="announcement",
                context={"announcement": announcement, "url": settings.SITE_URL + url},
                idempotency_key=f"notification:{notification.idempotency_key}",
            )
    return len(users)


def announcements_with_delivery(announcements) -> list[Announcement]:
    """The announcements, each with `.delivered` (people told so far) and
    `.delivering` (whether chunks are still to go), in one query."""
    announcements = list(announcements)
    done = {
        row["announcement"]: row
        for row in AnnouncementChunk.objects.filter(announcement__in=announcements)
        .values("announcement")
        .annotate(people=Sum("delivered"), chunks=Count("pk"))
    }
    for announcement in announcements:
        row = done.get(announcement.pk, {"people": 0, "chunks": 0})
        announcement.delivered = row["people"]
        announcement.delivering = (
            not announcement.is_final or row["chunks"] < announcement.chunks
        )
    return announcements
