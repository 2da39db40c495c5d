"""Signed, expiring tokens for the email verification link."""

from django.conf import settings
from django.core import signing

SALT = "accounts.email-verification"


def make_verification_token(user) -> str:
    # Signing the address too means a link stops working if the address changes.
    return signing.dumps({"user": user.pk, "email": user.email}, salt=SALT)


def read_verification_token(token: str) -> dict:
    """Return the signed payload; raise signing.BadSignature if invalid or expired."""
    return signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
