"""
Announcements: a staff member writes one message, the workers tell every
user in its audience.

- announcement_create: the Announcement, a job of apps.core, queued.
- announcement_fan_out (its work): splits the audience into chunks of
  ANNOUNCEMENT_CHUNK_SIZE users, each an AnnouncementChunk job, and enqueues
  them as one Celery group (a chord) on the bulk queue.
- announcement_chunk_deliver (a chunk's work): each user's notification, and
  email if their settings say so, committed with the chunk's end. The job kit
  makes it run once to its end: a lost or killed chunk is handed on by the
  sweeper, a duplicate message finds it done.
- announcement_delivered (the chord's callback, and every chunk's chained
  check): marks the announcement delivered once all its chunks have ended.
"""

from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum
from django.urls import reverse
from django.utils import timezone

from apps.core import services as jobs
from apps.core.models import Job
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
        since = (now or timezone.now()) - timedelta(days=30)
        users = users.filter(date_joined__gte=since)
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


@transaction.atomic
def announcement_fan_out(announcement: Announcement) -> None:
    """Make the chunks and enqueue them (the announcement's work).

    The audience is read once, here: whoever joins later is not told. Run
    again after its chunks were made (its worker died before recording the
    end), it leaves them to the job kit: each is queued, running or done.
    """
    if announcement.parts.exists():
        jobs.job_succeed(announcement, stage=_handed(announcement.chunks))
        return
    ids = list(
        audience_of(announcement.audience, now=announcement.created_at)
        .filter(date_joined__lte=announcement.created_at)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    size = settings.ANNOUNCEMENT_CHUNK_SIZE
    chunks = AnnouncementChunk.objects.bulk_create(
        AnnouncementChunk(
            owner=announcement.owner,
            announcement=announcement,
            number=number,
            user_ids=ids[start : start + size],
        )
        for number, start in enumerate(range(0, len(ids), size))
    )
    jobs.job_enqueue_group(
        chunks,
        then=current_app.signature(
            "apps.notifications.tasks.announcement_delivered",
            args=(announcement.pk,),
            immutable=True,
        ),
    )
    jobs.job_succeed(
        announcement,
        stage=_handed(len(chunks)),
        recipients=len(ids),
        chunks=len(chunks),
        delivered_at=None if chunks else timezone.now(),
    )


def _handed(chunks: int) -> str:
    return f"Handed to the workers in {chunks} chunk{'s' if chunks != 1 else ''}"


def announcement_chunk_deliver(chunk: AnnouncementChunk) -> None:
    """Tell the chunk's people (a chunk's work): its notifications, emails
    and end commit together, so a chunk cut short tells nobody and runs
    again, and one that ended is never run again."""
    with transaction.atomic():
        told = _tell(chunk.announcement, chunk.user_ids)
        jobs.job_succeed(chunk, stage=f"Told {told:,} people", delivered=told)


def _tell(announcement: Announcement, user_ids) -> int:
    users = list(get_user_model().objects.filter(pk__in=user_ids, is_active=True))
    preferences = {
        preferences.owner_id: preferences
        for preferences in NotificationPreferences.objects.filter(owner__in=user_ids)
    }
    url = reverse("notifications:announcement", args=[announcement.pk])
    notifications = Notification.objects.bulk_create(
        [
            Notification(
                owner=user,
                kind="announcement",
                message=f"Announcement: {announcement.subject}",
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


def announcement_delivered(announcement_id: int) -> bool:
    """Mark the announcement delivered if all its chunks have ended; True if
    this call did. Any number of calls mark it once."""
    unfinished = AnnouncementChunk.objects.filter(announcement=announcement_id).exclude(
        status__in=Job.FINAL_STATUSES
    )
    if unfinished.exists():
        return False
    return bool(
        Announcement.objects.filter(
            pk=announcement_id, status=Job.Status.SUCCEEDED, delivered_at=None
        ).update(delivered_at=timezone.now())
    )


def announcements_with_delivery(announcements) -> list[Announcement]:
    """The announcements, each with `.delivered` (people told so far),
    `.failed_chunks` and `.delivering` (chunks still to end), in one query."""
    announcements = list(announcements)
    final = Q(status__in=Job.FINAL_STATUSES)
    totals = {
        row["announcement"]: row
        for row in AnnouncementChunk.objects.filter(announcement__in=announcements)
        .values("announcement")
        .annotate(
            people=Sum("delivered"),
            ended=Count("pk", filter=final),
            failed=Count("pk", filter=Q(status=Job.Status.FAILED)),
        )
    }
    for announcement in announcements:
        row = totals.get(announcement.pk, {"people": 0, "ended": 0, "failed": 0})
        announcement.delivered = row["people"] or 0
        announcement.failed_chunks = row["failed"]
        announcement.delivering = announcement.status not in (
            Job.Status.FAILED,
            Job.Status.CANCELLED,
        ) and (not announcement.is_final or row["ended"] < announcement.chunks)
    return announcements


def announcement_for_reader(user, pk: int) -> Announcement | None:
    """The announcement `pk` if `user` was told it (or is staff)."""
    announcement = Announcement.objects.filter(pk=pk).first()
    if announcement is None:
        return None
    if (
        user.is_staff
        or Notification.objects.filter(
            owner=user, idempotency_key=f"announcement:{pk}:{user.pk}"
        ).exists()
    ):
        return announcement
    return None
