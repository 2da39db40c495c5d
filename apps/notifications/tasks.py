from apps.core.job_task import job_task
from apps.notifications import services
from apps.notifications.models import OutgoingEmail


@job_task(OutgoingEmail)
def email_send(email: OutgoingEmail) -> None:
    services.email_deliver(email=email)
