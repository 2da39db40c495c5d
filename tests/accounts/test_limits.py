"""Abuse limits on log-in, sign-up, password reset, resends and emails per
address (apps.core.throttle, django-axes). Time is moved, never slept."""

from datetime import timedelta

import pytest
from django.test import Client, TestCase
from django.urls import reverse

from apps.notifications import services as mail
from apps.notifications.models import OutgoingEmail
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def log_in(client, username, password):
    return client.post(
        reverse("accounts:login"), {"username": username, "password": password}
    )


def test_wrong_passwords_lock_the_account_then_the_right_one_is_refused_too(
    client, user, password, settings, clock
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, user.email, "wrong").status_code == 200
    # The last failure allowed locks the account at once...
    assert log_in(client, user.email, "wrong").status_code == 429
    # ...and the right password is refused as well.
    response = log_in(client, user.email, password)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed log-ins for this account or from your address" in page
    assert "Try again in 15 minutes." in page
    assert response["Retry-After"] == "900"
    assert "_auth_user_id" not in client.session
    # Another case of the same address is the same account.
    assert log_in(Client(), user.email.upper(), password).status_code == 429

    clock.shift(timedelta(minutes=16))
    assert log_in(client, user.email, password).status_code == 302


def test_one_client_trying_many_accounts_is_locked_out(client, password, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, f"guess{n}@example.com", "wrong")
    someone = UserFactory()
    assert log_in(client, someone.email, password).status_code == 429
    # The account itself is fine from another address.
    other_client = Client(REMOTE_ADDR="10.0.0.2")
    assert log_in(other_client, someone.email, password).status_code == 302


def test_the_admin_login_is_locked_out_the_same_way(client, password, settings):
    admin = UserFactory(is_staff=True, is_superuser=True)
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": admin.email, "password": "wrong"})
    response = client.post(url, {"username": admin.email, "password": password})
    assert response.status_code == 429


def reset(client, address):
    """Ask for a reset, and run the task it enqueues, as a worker would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse("accounts:password_reset"), {"email": address})


def test_password_resets_for_one_address_are_limited_per_hour(
    client, user, settings, clock
):
    allowed = int(settings.RATE_LIMIT_RESET_PER_ADDRESS.split("/")[0])
    for _ in range(allowed):
        assert reset(Client(), user.email).status_code == 302
    response = reset(client, user.email.upper())
    assert response.status_code == 429
    assert "Try again in" in response.content.decode()
    assert int(response["Retry-After"]) <= 3600
    emails = OutgoingEmail.objects.filter(template="password_reset")
    assert emails.count() == allowed

    clock.shift(timedelta(hours=1, minutes=1))
    assert reset(client, user.email).status_code == 302
    assert emails.count() == allowed + 1


def test_showing_the_reset_form_is_never_limited(client, user, settings):
    settings.RATE_LIMIT_RESET_PER_ADDRESS = "1/h"
    reset(client, user.email)
    assert reset(client, user.email).status_code == 429
    assert client.get(reverse("accounts:password_reset")).status_code == 200


def test_sign_ups_from_one_client_are_limited(client, password, settings, clock):
    settings.RATE_LIMIT_SIGNUP_PER_CLIENT = "2/h"
    for n in range(2):
        Client().post(  # Fresh browsers, one address: 127.0.0.1.
            reverse("accounts:signup"),
            {
                "email": f"n{n}@example.com",
                "password1": password,
                "password2": password,
            },
        )
    response = client.post(
        reverse("accounts:signup"),
        {"email": "n3@example.com", "password1": password, "password2": password},
    )
    assert response.status_code == 429


def test_a_form_sent_back_with_errors_uses_up_no_limit(
    client, user, password, settings
):
    """A newcomer who mistypes is never locked out: only what was acted on
    (a sign-up made, a reset asked for) counts."""
    settings.RATE_LIMIT_SIGNUP_PER_ADDRESS = "2/h"
    settings.RATE_LIMIT_SIGNUP_PER_CLIENT = "2/h"
    settings.RATE_LIMIT_RESET_PER_CLIENT = "2/h"
    signup = reverse("accounts:signup")
    typed = {"email": "typo@example.com", "password1": password}
    for _ in range(5):
        response = client.post(signup, {**typed, "password2": password + "x"})
        assert response.status_code == 200  # The form, with its error.
        assert reset(client, "not an address").status_code == 200
    assert client.post(signup, {**typed, "password2": password}).status_code == 302
    assert reset(client, user.email).status_code == 302


def test_posts_sent_all_at_once_cannot_slip_under_a_limit(rf, settings):
    import threading
    import time

    from django.http import HttpResponseRedirect

    from apps.core.throttle import by_client, throttle

    settings.RATE_LIMIT_RESET_PER_CLIENT = "3/h"

    @throttle("at-once", by_client("RATE_LIMIT_RESET_PER_CLIENT"))
    def slow(request):
        time.sleep(0.05)  # All of them are in here together.
        return HttpResponseRedirect("/")

    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(slow(rf.post("/")).status_code))
        for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [302] * 3 + [429] * 17


def test_sign_ups_for_one_address_are_limited_whatever_the_client(
    user, password, settings
):
    """Each sign-up for a taken address may email its owner: many clients
    must not fill the owner's inbox (and hourly cap) with them."""
    settings.RATE_LIMIT_SIGNUP_PER_ADDRESS = "2/h"
    answers = [
        Client(REMOTE_ADDR=f"10.0.1.{n}")
        .post(
            reverse("accounts:signup"),
            {"email": address, "password1": password, "password2": password},
        )
        .status_code
        for n, address in enumerate([user.email, user.email.upper(), user.email])
    ]
    assert answers == [302, 302, 429]
    # However many got through, the owner hears of it once an hour.
    assert OutgoingEmail.objects.filter(template="signup_attempt").count() == 1


def test_resending_the_verification_email_is_limited_per_account(
    client, password, settings
):
    user = UserFactory(email_verified_at=None)
    client.force_login(user)
    allowed = int(settings.RATE_LIMIT_RESEND_PER_ACCOUNT.split("/")[0])
    for _ in range(allowed):
        assert client.post(reverse("accounts:resend_verification")).status_code == 302
    assert client.post(reverse("accounts:resend_verification")).status_code == 429
    assert OutgoingEmail.objects.filter(template="verify_email").count() == allowed


def test_no_address_gets_more_than_its_hourly_share_of_emails(
    user, settings, clock, django_capture_on_commit_callbacks
):
    settings.EMAILS_PER_ADDRESS_PER_HOUR = 3
    with django_capture_on_commit_callbacks() as published:
        emails = [
            mail.email_queue(owner=user, template="welcome", context={})
            for _ in range(5)
        ]
    assert len(published) == 3
    refused = emails[3:]
    for email in refused:
        email.refresh_from_db()
        assert email.status == "failed"
        assert email.error_message == (
            "Not sent: this address already had 3 emails in the last hour, "
            "the most we send."
        )
    clock.shift(timedelta(hours=1, minutes=1))
    with django_capture_on_commit_callbacks() as published:
        mail.email_queue(owner=user, template="welcome", context={})
    assert len(published) == 1


def test_logging_into_ones_own_account_does_not_wipe_the_failures_against_another(
    client, user, password, settings
):
    attacker = UserFactory()
    for _ in range(3):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            log_in(client, user.email, "guess")
        log_in(client, attacker.email, password)  # Used to reset the count.
        client.logout()
    assert log_in(client, user.email, password).status_code == 429


def test_the_reset_limit_folds_addresses_as_django_compares_them(client, settings):
    from apps.core.throttle import fold

    assert fold("ſam.Ross@EXAMPLE.com ") == fold("sam.ross@example.com")
    settings.RATE_LIMIT_RESET_PER_ADDRESS = "1/h"
    reset(client, "sam.ross@example.com")
    assert reset(Client(), "ſam.ross@example.com").status_code == 429


def test_limits_stand_aside_rather_than_fail_when_the_cache_is_down(
    client, password, monkeypatch
):
    from apps.core import throttle

    def cache_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to redis")

    monkeypatch.setattr(throttle, "get_usage", cache_down)
    response = client.post(
        reverse("accounts:signup"),
        {"email": "up@example.com", "password1": password, "password2": password},
    )
    assert response.status_code == 302


@pytest.mark.parametrize(
    "proxies, forwarded, expected",
    [
        (0, "6.6.6.6", "10.0.0.9"),  # No proxy: the header is the client's lie.
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),  # The proxy appended the last.
        (2, "6.6.6.6, 203.0.113.7, 10.0.0.2", "203.0.113.7"),
        (2, "203.0.113.7", "203.0.113.7"),  # Came in past the outer proxy.
        (1, "", "10.0.0.9"),
    ],
)
def test_the_client_address_is_the_one_the_outermost_trusted_proxy_saw(
    rf, settings, proxies, forwarded, expected
):
    from apps.core.throttle import client_address

    settings.TRUSTED_PROXIES = proxies
    request = rf.get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)
    assert client_address(request) == expected


def test_a_client_cannot_escape_the_login_lockout_by_forging_its_address(
    client, password, settings
):
    settings.TRUSTED_PROXIES = 1
    settings.AXES_FAILURE_LIMIT = 2
    for n in range(3):
        client.post(
            reverse("accounts:login"),
            {"username": f"u{n}@example.com", "password": "wrong"},
            # A new made-up address at the left each time; the proxy's last.
            HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 203.0.113.7",
        )
    response = client.post(
        reverse("accounts:login"),
        {"username": "u9@example.com", "password": "wrong"},
        HTTP_X_FORWARDED_FOR="6.6.6.99, 203.0.113.7",
    )
    assert response.status_code == 429
