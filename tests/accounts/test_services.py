from datetime import timedelta

import pytest
from django.core import mail, signing
from django.utils import timezone

from apps.accounts import services, tokens
from apps.accounts.models import User
from apps.notifications.models import OutgoingEmail

pytestmark = pytest.mark.django_db
BASE_URL = "http://testserver/"


def test_register_queues_one_welcome_email_after_commit(
    password, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        user = services.user_register(
            email="Ada@Example.com", password=password, base_url=BASE_URL
        )
    assert user.email == "ada@example.com"
    assert user.check_password(password)
    assert not user.is_verified
    welcome = OutgoingEmail.objects.get(owner=user)
    assert welcome.template == "welcome"
    assert welcome.status == "succeeded"
    assert "http://testserver/accounts/verify/" in welcome.body_text
    assert "http://testserver/accounts/verify/" in welcome.body_html
    assert "The link works for 3\xa0days." in welcome.body_text
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert mail.outbox[0].alternatives[0].mimetype == "text/html"


def test_welcome_email_is_queued_once_per_user(password):
    user = services.user_register(
        email="a@example.com", password=password, base_url="/"
    )
    from apps.notifications import services as notifications

    again = notifications.email_queue(
        owner=user, template="welcome", context={}, idempotency_key=f"welcome:{user.pk}"
    )
    assert OutgoingEmail.objects.filter(owner=user).count() == 1
    assert again.pk == OutgoingEmail.objects.get(owner=user).pk


def test_verification_link_marks_the_address_verified_and_can_be_reused(user):
    token = tokens.make_verification_token(user)
    assert services.user_verify_email(token=token).is_verified
    first = User.objects.get(pk=user.pk).email_verified_at
    services.user_verify_email(token=token)
    assert User.objects.get(pk=user.pk).email_verified_at == first


def test_tampered_verification_link_is_refused(user):
    token = tokens.make_verification_token(user)
    with pytest.raises(services.VerificationLinkInvalid):
        services.user_verify_email(token=token[:-2] + "xx")


def test_expired_verification_link_is_refused(user, settings):
    token = tokens.make_verification_token(user)
    settings.EMAIL_VERIFICATION_MAX_AGE = -1
    with pytest.raises(services.VerificationLinkInvalid):
        services.user_verify_email(token=token)


def test_verification_link_for_a_changed_address_is_refused(user):
    token = tokens.make_verification_token(user)
    User.objects.filter(pk=user.pk).update(email="other@example.com")
    with pytest.raises(services.VerificationLinkInvalid):
        services.user_verify_email(token=token)


def test_verification_token_signed_with_another_salt_is_refused(user):
    forged = signing.dumps({"user": user.pk, "email": user.email}, salt="other")
    with pytest.raises(services.VerificationLinkInvalid):
        services.user_verify_email(token=forged)


def test_resend_verification_queues_a_new_email_each_time(user):
    services.user_send_verification(user=user, base_url=BASE_URL)
    services.user_send_verification(user=user, base_url=BASE_URL)
    assert (
        OutgoingEmail.objects.filter(owner=user, template="verify_email").count() == 2
    )


def test_seed_demo_is_safe_to_run_twice():
    services.user_seed_demo(email="demo@example.com", password="pw-demo-1")
    services.user_seed_demo(
        email="demo@example.com", password="pw-demo-2", is_staff=True
    )
    demo = User.objects.get(email="demo@example.com")
    assert demo.check_password("pw-demo-2")
    assert demo.is_staff
    assert demo.email_verified_at <= timezone.now() + timedelta(seconds=1)


def test_second_registration_of_an_address_is_refused_cleanly(password):
    # What the loser of two simultaneous sign-ups sees, after both forms passed.
    services.user_register(email="race@example.com", password=password, base_url="/")
    with pytest.raises(services.EmailTaken):
        services.user_register(
            email="RACE@example.com", password=password, base_url="/"
        )
    assert User.objects.filter(email="race@example.com").count() == 1
    assert OutgoingEmail.objects.count() == 1
