from celery import shared_task

from apps.accounts import services


# Looking the address up here, not in the web request, is what makes the
# reset page answer the same, in the same time, for an address with an
# account and one without. Idempotent: the email's key is the request's.
@shared_task(soft_time_limit=20, time_limit=25)
def password_reset_send(address: str, email_key: str, base_url: str) -> None:
    services.password_reset_send(
        address=address, email_key=email_key, base_url=base_url
    )
