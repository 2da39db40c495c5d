from celery import shared_task
from django.db import InterfaceError, OperationalError

from apps.accounts import services, signups

# No row stands for these requests until the task runs, so a database that
# is briefly away is waited for rather than losing the request.
DATABASE_AWAY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 2,
    "max_retries": 6,
}


# Looking the address up here, not in the web request, is what makes the
# reset page answer the same, in the same time, for an address with an
# account and one without. Idempotent: the email's key is the request's.
@shared_task(soft_time_limit=20, time_limit=25, **DATABASE_AWAY)
def password_reset_send(address: str, email_key: str, base_url: str) -> None:
    services.password_reset_send(
        address=address, email_key=email_key, base_url=base_url
    )


# Sign-up is decided here for the same reason: the page says "check your
# email" whether the address is new or taken, and only its owner's inbox
# learns which (a welcome email, or "someone tried to sign up as you").
# Idempotent: the sign-up's row goes with the email's queueing.
@shared_task(soft_time_limit=20, time_limit=25, **DATABASE_AWAY)
def signup_complete(signup_id: int, base_url: str) -> None:
    signups.user_signup_complete(signup_id=signup_id, base_url=base_url)


@shared_task(ignore_result=False, soft_time_limit=20, time_limit=25)
def signup_requests_clean() -> str:
    deleted = signups.signup_requests_clean()
    return f"Deleted {deleted} stale sign-up{'s' if deleted != 1 else ''}."
