from datetime import date

from celery import shared_task
from django.conf import settings

from apps.core.job_task import job_task
from apps.notifications import announcements, digests, services
from apps.notifications.models import Announcement, OutgoingEmail


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


@shared_task(soft_time_limit=90, time_limit=100)
def announcement_deliver(announcement_id: int, number: int, user_ids: list[int]) -> int:
    announcement = Announcement.objects.filter(pk=announcement_id).first()
    if announcement is None:
        return 0  # Deleted meanwhile.
    return announcements.announcement_deliver(
        announcement=announcement, number=number, user_ids=user_ids
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
