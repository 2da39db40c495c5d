from datetime import date

from celery import shared_task
from django.conf import settings

from apps.core.job_task import job_task
from apps.notifications import announcements, digests, services
from apps.notifications.models import Announcement, AnnouncementChunk, OutgoingEmail


@job_task(OutgoingEmail)
def email_send(email: OutgoingEmail) -> None:
    """A transactional email (welcome, reset, receipt): on the quick queue,
    never behind bulk mail."""
    services.email_deliver(email=email)


# Bulk mail (announcements, digests) goes out on its own queue, at most
# EMAIL_BULK_RATE_LIMIT per worker: mail providers cap how fast an account
# may send (and mark a sudden burst as spam), and the rate limit of a Celery
# task applies to that task alone, so the transactional email_send above is
# never held back by it.
@job_task(OutgoingEmail, rate_limit=settings.EMAIL_BULK_RATE_LIMIT)
def email_send_bulk(email: OutgoingEmail) -> None:
    services.email_deliver(email=email)


@job_task(Announcement)
def announcement_send(announcement: Announcement) -> None:
    announcements.announcement_fan_out(announcement)


# Its result is kept: the chord waits for every chunk's.
@job_task(AnnouncementChunk, ignore_result=False)
def announcement_chunk_deliver(chunk: AnnouncementChunk) -> None:
    announcements.announcement_chunk_deliver(chunk)


# The chunks' chord callback; and, as each chunk's chained task, the same
# check after a chunk the sweeper republished outside the chord.
@shared_task(soft_time_limit=20, time_limit=25)
def announcement_delivered(announcement_id: int) -> bool:
    return announcements.announcement_delivered(announcement_id)


@shared_task(soft_time_limit=20, time_limit=25)
def announcement_delivered_check(chunk_id: int) -> bool:
    chunk = AnnouncementChunk.objects.filter(pk=chunk_id).first()
    return chunk is not None and announcements.announcement_delivered(
        chunk.announcement_id
    )


# Beat, daily. Their results are kept, so the admin's schedule shows what
# each run did.


@shared_task(ignore_result=False, soft_time_limit=60, time_limit=70)
def digests_send() -> str:
    return digests.digests_send()


@shared_task(soft_time_limit=90, time_limit=100)
def digest_deliver(day: str, user_ids: list[int]) -> int:
    return digests.digest_deliver(day=date.fromisoformat(day), user_ids=user_ids)


@shared_task(ignore_result=False, soft_time_limit=60, time_limit=70)
def notifications_purge() -> str:
    return services.notifications_purge()
