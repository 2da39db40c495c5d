from datetime import timedelta

import pytest
from django.contrib.auth.hashers import check_password
from django.core import mail, signing
from django.utils import timezone

from apps.accounts import services, signups, tokens
from apps.accounts.models import SignupRequest, User
from apps.notifications.models import Notification, OutgoingEmail
from tests.brokers import use_broker
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
BASE_URL = "http://testserver/"


def link_token(welcome) -> str:
    return welcome.body_text.split("/accounts/signup/confirm/")[1].split("/")[0]


def request_signup(address, password=PASSWORD) -> SignupRequest:
    """Sign up as the web does; its message is published, not run inline."""
    with use_broker("memory://"):
        key = signups.user_signup_request(
            address=address, password=password, base_url=BASE_URL
        )
    signup = SignupRequest.objects.get(key=key)
    assert signup.password != password and check_password(password, signup.password)
    return signup


def complete(address, password=PASSWORD) -> str:
    """Sign up, then run the worker's part; the sign-up's key."""
    signup = request_signup(address, password)
    signups.user_signup_complete(signup_id=signup.pk, base_url=BASE_URL)
    return signup.key


def test_a_free_address_gets_an_account_closed_until_its_link_is_followed(
    password, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        key = complete("Ada@Example.com", password)
    user = User.objects.get()
    assert user.email == "ada@example.com"
    assert user.check_password(password)
    assert not user.is_active and user.awaiting_confirmation
    assert not SignupRequest.objects.exists()  # Its password hash with it.
    welcome = OutgoingEmail.objects.get(owner=user)
    assert welcome.template == "welcome"
    assert welcome.idempotency_key == f"welcome:{key}"
    assert welcome.status == "succeeded"
    assert "http://testserver/accounts/signup/confirm/" in welcome.body_text
    assert "http://testserver/accounts/signup/confirm/" in welcome.body_html
    assert "The link works for 3\xa0days." in welcome.body_text
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]
    assert mail.outbox[0].alternatives[0].mimetype == "text/html"

    token = link_token(welcome)
    confirmed, opened = signups.user_signup_confirm(token=token, session_key=key)
    assert opened and confirmed.is_active and confirmed.is_verified
    assert not confirmed.awaiting_confirmation
    # Twice: fine, but it opens nothing the second time.
    assert signups.user_signup_confirm(token=token, session_key=key) == (
        confirmed,
        False,
    )
    # One welcome notification, however often the link is followed.
    welcome_note = Notification.objects.get(owner=confirmed)
    assert (welcome_note.kind, welcome_note.url) == ("welcome", "/orders/")


def test_a_taken_address_tells_its_owner_once_an_hour_and_changes_nothing(
    user, django_capture_on_commit_callbacks
):
    before = user.password
    with django_capture_on_commit_callbacks(execute=True):
        complete(user.email.upper(), "another-Pa55word")
        complete(user.email, "yet-another-Pa55word")
    user.refresh_from_db()
    assert user.password == before
    assert User.objects.count() == 1
    notice = OutgoingEmail.objects.get()  # One, for both.
    assert (notice.owner, notice.template) == (user, "signup_attempt")
    assert notice.subject == ("Someone tried to sign up to Jobs Demo with your address")
    assert "http://testserver/accounts/login/" in notice.body_text
    assert "http://testserver/accounts/password/reset/" in notice.body_html
    assert [m.to for m in mail.outbox] == [[user.email]]
    assert not SignupRequest.objects.exists()


def test_a_second_sign_up_before_the_first_is_confirmed_replaces_its_password():
    # Whoever signs up first with someone else's address cannot keep it.
    first = complete("victim@example.com", "attacker-Pa55word")
    second = complete("victim@example.com", "victims-own-Pa55word")
    user = User.objects.get()
    assert user.check_password("victims-own-Pa55word")
    first_email, second_email = OutgoingEmail.objects.order_by("id")
    # The first sign-up's link went stale with its password, even in the
    # browser that made it.
    with pytest.raises(signups.SignupLinkStale):
        signups.user_signup_confirm(token=link_token(first_email), session_key=first)
    _, opened = signups.user_signup_confirm(
        token=link_token(second_email), session_key=second
    )
    assert opened


def test_elsewhere_the_link_opens_the_account_only_with_its_password():
    key = complete("phone@example.com", "My-own-Pa55word")
    token = link_token(OutgoingEmail.objects.get())
    for session_key, password in (("", ""), ("other", ""), ("", "Wrong-Pa55word")):
        with pytest.raises(signups.SignupPasswordNeeded):
            signups.user_signup_confirm(
                token=token, session_key=session_key, password=password
            )
    assert User.objects.get().awaiting_confirmation
    user, opened = signups.user_signup_confirm(
        token=token, session_key="", password="My-own-Pa55word"
    )
    assert opened and user.is_active
    assert key


def test_a_deactivated_account_is_neither_told_nor_reopened(user):
    # Never verified, never logged in: still no sign-up may reopen it.
    User.objects.filter(pk=user.pk).update(
        is_active=False, email_verified_at=None, last_login=None
    )
    complete(user.email, "another-Pa55word")
    assert not OutgoingEmail.objects.exists()
    user.refresh_from_db()
    assert not user.is_active and user.check_password(PASSWORD)


def test_an_owner_hears_of_sign_up_attempts_once_in_any_hour(user, clock):
    clock.move_to(timezone.now().replace(minute=59, second=59))
    complete(user.email)
    clock.shift(timedelta(seconds=2))  # Another clock hour.
    complete(user.email)
    assert OutgoingEmail.objects.count() == 1
    clock.shift(timedelta(hours=1))
    complete(user.email)
    assert OutgoingEmail.objects.count() == 2


def test_only_the_sign_ups_id_goes_through_the_broker(password, monkeypatch):
    from apps.accounts import tasks

    published = []
    monkeypatch.setattr(
        tasks.signup_complete, "apply_async", lambda args: published.append(args)
    )
    key = signups.user_signup_request(
        address="a@example.com", password=password, base_url=BASE_URL
    )
    assert published == [(SignupRequest.objects.get(key=key).pk, BASE_URL)]


def test_a_redelivered_sign_up_sends_nothing_twice(password):
    signup = request_signup("a@example.com", password)
    signups.user_signup_complete(signup_id=signup.pk, base_url=BASE_URL)
    signups.user_signup_complete(signup_id=signup.pk, base_url=BASE_URL)
    assert User.objects.count() == 1
    assert OutgoingEmail.objects.count() == 1


def test_the_loser_of_two_simultaneous_sign_ups_finds_the_winners_account(
    password, monkeypatch
):
    # Both tasks looked the address up before either had created it.
    User.objects.create(
        email="race@example.com", is_active=False, awaiting_confirmation=True
    )
    real, looks = User.objects.select_for_update, []

    def blind_the_first_time():
        looks.append(1)
        return real().filter(pk=None) if len(looks) == 1 else real()

    monkeypatch.setattr(User.objects, "select_for_update", blind_the_first_time)
    complete("RACE@example.com", password)
    monkeypatch.undo()
    user = User.objects.get(email="race@example.com")
    assert user.check_password(password)  # Still unconfirmed: ours now.
    assert OutgoingEmail.objects.get().template == "welcome"


def test_sign_ups_no_worker_dealt_with_and_accounts_never_confirmed_go(
    password, clock, user
):
    request_signup("a@example.com", password)  # Its message is lost.
    complete("b@example.com", password)  # Its link never followed.
    assert signups.signup_requests_clean() == 0
    clock.shift(timedelta(days=1, seconds=1))
    assert signups.signup_requests_clean() == 1
    assert not SignupRequest.objects.exists()
    clock.shift(timedelta(days=2))  # Its link expired.
    assert signups.signup_requests_clean() == 1
    assert list(User.objects.all()) == [user]


def test_a_forged_or_expired_sign_up_link_is_refused(settings):
    with pytest.raises(signups.SignupLinkInvalid):
        signups.user_signup_confirm(token="nonsense", session_key="")
    complete("b@example.com")
    token = tokens.make_signup_token(User.objects.get(), key="k")
    settings.EMAIL_VERIFICATION_MAX_AGE = -1
    with pytest.raises(signups.SignupLinkInvalid):
        signups.user_signup_preview(token=token)


def test_verification_link_marks_the_address_verified_and_can_be_reused(user):
    User.objects.filter(pk=user.pk).update(email_verified_at=None)
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
