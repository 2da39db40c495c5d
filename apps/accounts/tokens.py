"""Signed, expiring tokens for the links in emails: verifying an address, and
finishing a sign-up."""

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

SALT = "accounts.email-verification"


def make_verification_token(user) -> str:
    # Signing the address too means a link stops working if the address changes.
    return signing.dumps({"user": user.pk, "email": user.email}, salt=SALT)


def read_verification_token(token: str) -> dict:
    """Return the signed payload; raise signing.BadSignature if invalid or expired."""
    return signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)


SIGNUP_SALT = "accounts.signup"


def make_signup_token(user, *, key: str) -> str:
    # `key` is the sign-up's, also kept in the session that signed up. The
    # password's fingerprint ties the link to the password that sign-up set:
    # a later sign-up for the address (a new password) makes it stale.
    return signing.dumps(
        {
            "user": user.pk,
            "email": user.email,
            "key": key,
            "password": password_fingerprint(user),
        },
        salt=SIGNUP_SALT,
    )


def password_fingerprint(user) -> str:
    return salted_hmac(SIGNUP_SALT, user.password).hexdigest()[:20]


def read_signup_token(token: str) -> dict:
    """Return the signed payload; raise signing.BadSignature if invalid or expired."""
    return signing.loads(
        token, salt=SIGNUP_SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE
    )
