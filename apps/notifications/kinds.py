"""
The kinds of notification, each with the name the preferences page gives it
and whether it also arrives by email for someone who has not chosen.

A kind's email is the notification itself, unless the app that notifies
passes its own (a report's link, an import's summary). Emails a user needs
whatever they choose (the welcome, a receipt, a password reset) are sent by
their apps directly and are not listed here.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    label: str
    email_by_default: bool


KINDS = {
    "welcome": Kind("Welcome, when your account is ready", False),
    "payment_paid": Kind("A payment went through", False),
    "payment_failed": Kind("A payment failed for good", False),
    "invoice_ready": Kind("An invoice is ready", False),
    "import_done": Kind("A CSV import finished", True),
    "import_failed": Kind("A CSV import stopped", True),
    "report_ready": Kind("A PDF report is ready", True),
    "report_failed": Kind("A PDF report could not be made", True),
    "images_done": Kind("A batch of images is processed", False),
    "announcement": Kind("Announcements from the team", True),
}

# Sent as bulk mail (their own queue and rate limit), never ahead of the
# transactional emails.
BULK_KINDS = frozenset({"announcement"})


def label(kind: str) -> str:
    known = KINDS.get(kind)
    return known.label if known else kind.replace("_", " ").capitalize()
