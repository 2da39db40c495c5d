"""Steps and checks shared by the worker tests that send emails."""

import email

from django.contrib.auth.hashers import make_password

from apps.accounts import signups
from apps.accounts.models import SignupRequest
from apps.notifications.models import OutgoingEmail
from tests.factories import PASSWORD
from tests.processes import wait_until


def welcome_email_queued(address: str) -> OutgoingEmail:
    """What the sign-up task does in a worker, done here: for the tests about
    sending an email, whose worker should have nothing else to do."""
    signup = SignupRequest.objects.create(
        email=address, password=make_password(PASSWORD), key=address
    )
    signups.user_signup_complete(signup_id=signup.pk, base_url="http://testserver/")
    return OutgoingEmail.objects.get(to_address=address)


def wait_until_sending(worker, smtp, welcome: OutgoingEmail) -> None:
    """Wait until `worker` is connected to `smtp` (whose greeting is held) to
    send `welcome`: a worker killed now has sent nothing."""
    wait_until(
        lambda: (
            smtp.connections == 1
            and OutgoingEmail.objects.filter(pk=welcome.pk, status="running").exists()
        ),
        timeout=15,
        interval=0.02,
        message=f"the worker did not connect to send:\n{worker.output()}",
    )


def sent_messages(mail_dir):
    """The emails a worker wrote to `mail_dir` (its EMAIL_URL is filemail)."""
    return [
        email.message_from_string(line_block)
        for path in sorted(mail_dir.iterdir())
        for line_block in path.read_text().split("-" * 79 + "\n")
        if line_block.strip()
    ]
