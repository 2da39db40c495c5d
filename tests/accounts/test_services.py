from datetime import timedelta

import pytest
from django.contrib.auth.hashers import make_password
from django.core import mail, signing
from django.utils import timezone

from apps.accounts import services, tokens
from apps.accounts.models import User
from apps.notifications.models import OutgoingEmail

pytestmark = pytest.mark.django_db
BASE_URL = "http://testserver/"


def complete(address, password, key="welcome:k1"):
    services.user_signup_complete(
        address=address,
        password_hash=make_password(password),
        email_key=key,
        base_url=BASE_URL,
    )


def test_a_free_address_gets_an_account_and_one_welcome_email_after_commit(
    password, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        complete("Ada@Example.com", password)
    user = User.objects.get()
    assert user.email == "ada@example.com"
    assert user.check_password(password)
    assert not user.is_verified
    welcome = OutgoingEmail.objects.get(owner=user)
    assert welcome.template == "welcome"
    assert welcome.idempotency_key == "welcome:k1"
    assert welcome.status == "succeeded"
    assert "http://testserver/accounts/verify/" in welcome.body_text
    assert "http://testserver/accounts/verify/" in welcome.body_html
    assert "The link works for 3\xa0days." in welcome.body_text
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert mail.outbox[0].alternatives[0].mimetype == "text/html"


def test_a_taken_address_tells_its_owner_and_changes_nothing(
    user, password, django_capture_on_commit_callbacks
):
    before = user.password
    with django_capture_on_commit_callbacks(execute=True):
        complete(user.email.upper(), "another-Pa55word")
    user.refresh_from_db()
    assert user.password == before
    assert User.objects.count() == 1
    notice = OutgoingEmail.objects.get()
    assert (notice.owner, notice.template) == (user, "signup_attempt")
    assert notice.subject == ("Someone tried to sign up to Jobs Demo with your address")
    assert "http://testserver/accounts/login/" in notice.body_text
    assert "http://testserver/accounts/password/reset/" in notice.body_html
    assert [m.to for m in mail.outbox] == [[user.email]]


def test_a_redelivered_sign_up_sends_nothing_twice(password):
    complete("a@example.com", password)
    complete("a@example.com", password)  # The same message, delivered again.
    assert User.objects.count() == 1
    assert list(OutgoingEmail.objects.values_list("template", flat=True)) == ["welcome"]
    complete("a@example.com", password, key="welcome:k2")  # A second sign-up.
    complete("a@example.com", password, key="welcome:k2")
    assert sorted(OutgoingEmail.objects.values_list("template", flat=True)) == [
        "signup_attempt",
        "welcome",
    ]


def test_the_loser_of_two_simultaneous_sign_ups_tells_the_owner(password, monkeypatch):
    # Both tasks looked the address up before either had created it.
    User.objects.create(email="race@example.com")
    real_filter = User.objects.filter
    monkeypatch.setattr(User.objects, "filter", lambda *a, **kw: real_filter(pk=None))
    complete("RACE@example.com", password)
    monkeypatch.undo()
    assert User.objects.filter(email="race@example.com").count() == 1
    assert OutgoingEmail.objects.get().template == "signup_attempt"


def test_verification_link_marks_the_address_verified_and_can_be_reused(user):
    User.objects.filter(pk=user.pk).update(email_verified_at=None)
    token = tokens.make_verification_token(user)
    verified, first_time = services.user_verify_email(token=token)
    assert verified.is_verified and first_time
    first = User.objects.get(pk=user.pk).email_verified_at
    assert services.user_verify_email(token=token) == (verified, False)
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
