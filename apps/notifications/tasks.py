from celery import shared_task

from apps.core.exceptions import RetryLater
from apps.notifications import services
from apps.notifications.models import OutgoingEmail


# Attempts are capped on the row (OutgoingEmail.max_attempts), not here.
@shared_task(bind=True, max_retries=None, soft_time_limit=20, time_limit=25)
def email_send(self, email_id: int) -> None:
    email = OutgoingEmail.objects.filter(id=email_id).first()
    if email is None:
        return  # Its user was deleted after enqueue; nobody to write to.
    try:
        services.email_deliver(email=email)
    except RetryLater as exc:
        raise self.retry(countdown=exc.countdown) from exc
