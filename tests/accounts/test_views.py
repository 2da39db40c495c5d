import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts import tokens
from apps.accounts.models import User
from apps.notifications.models import OutgoingEmail
from tests.brokers import use_broker

pytestmark = pytest.mark.django_db


def log_in(client, email, password):
    return client.post(
        reverse("accounts:login"), {"username": email, "password": password}
    )


def signup(client, email, password1, password2=None):
    return client.post(
        reverse("accounts:signup"),
        {"email": email, "password1": password1, "password2": password2 or password1},
    )


def confirm_link(address) -> str:
    welcome = OutgoingEmail.objects.get(to_address=address, template="welcome")
    return re.search(
        r"http://testserver(/accounts/signup/confirm/\S+/)", welcome.body_text
    )[1]


def test_sign_up_says_check_your_email_and_the_confirmed_link_logs_in(
    client, password, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signup(client, "new@example.com", password)
    assert response["Location"] == reverse("accounts:signup_done")
    page = client.get(response["Location"]).content.decode()
    assert "Check your email" in page and "new@example.com" in page
    # Not open before its link is followed.
    assert log_in(Client(), "new@example.com", password).status_code == 200

    link = confirm_link("new@example.com")
    # Opening the link (a mail scanner does) confirms nothing: a button does.
    page = client.get(link).content.decode()
    assert "Confirm my address" in page
    assert "The password you chose" not in page  # This browser signed up.
    assert not User.objects.get(email="new@example.com").is_active
    response = client.post(link)
    assert response["Location"] == reverse("accounts:welcome")
    page = client.get(response["Location"]).content.decode()
    assert "Your address is verified and you are logged in." in page
    assert 'data-status="succeeded"' in page
    welcome = OutgoingEmail.objects.get(to_address="new@example.com")
    assert reverse("notifications:email_detail", args=[welcome.pk]) in page
    assert log_in(Client(), "new@example.com", password).status_code == 302


def test_elsewhere_the_link_asks_for_the_password_the_sign_up_chose(client, password):
    signup(client, "mine@example.com", password)
    link = confirm_link("mine@example.com")
    # Sent to someone else (login CSRF), or opened on another device.
    other = Client()
    page = other.get(link).content.decode()
    assert "The password you chose when signing up" in page
    response = other.post(link)
    assert response.status_code == 200
    assert not User.objects.get(email="mine@example.com").is_active
    response = other.post(link, {"password": "Not-the-passw0rd"})
    assert response.status_code == 400
    assert "That is not the password this sign-up chose." in response.content.decode()
    assert not User.objects.get(email="mine@example.com").is_active
    response = other.post(link, {"password": password})
    assert response["Location"] == reverse("accounts:welcome")
    # Once open, the link logs nobody in again, not even the browser that
    # signed up.
    page = client.post(link).content.decode()
    assert "mine@example.com is verified" in page
    assert client.get(reverse("accounts:account")).status_code == 302


def test_logging_in_right_after_signing_up_tells_free_from_taken_nothing(
    user, password
):
    answers = []
    for address in (user.email, "free@example.com"):
        browser = Client()
        signup(browser, address, "Probe-passw0rd-1")
        answers.append(log_in(browser, address, "Probe-passw0rd-1").status_code)
    assert answers == [200, 200]


@pytest.mark.parametrize("demo_mode", [False, True])
def test_sign_up_with_a_taken_address_answers_the_same_without_looking_it_up(
    user, password, settings, demo_mode
):
    """Same answer, same queries, for a taken address and a free one: nothing
    to time, nothing to tell them apart. The worker looks it up."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DEMO_MODE = demo_mode
    answers, queries = [], []
    for address in (user.email, "free@example.com"):
        browser = Client()
        # Published for real (to memory), not run inline as eager tests do.
        with CaptureQueriesContext(connection) as captured, use_broker("memory://"):
            response = signup(browser, address, password)
        answers.append((response.status_code, response["Location"]))
        queries.append([q["sql"] for q in captured.captured_queries])
        page = browser.get(response["Location"]).content.decode()
        assert "Check your email" in page and address in page
    assert answers[0] == answers[1]
    assert len(queries[0]) == len(queries[1])
    assert not any("accounts_user" in sql for sql in queries[0] + queries[1])


def test_a_taken_address_gets_a_notice_the_signing_up_browser_cannot_read(
    client, user, password, settings
):
    settings.DEMO_MODE = True
    signup(client, user.email, password)
    notice = OutgoingEmail.objects.get(owner=user, template="signup_attempt")
    assert "already have one" in notice.body_text
    # The browser that signed up sees nothing: the notice is the owner's.
    page = client.get(reverse("notifications:mailbox")).content.decode()
    assert notice.subject not in page
    url = reverse("notifications:email_detail", args=[notice.pk])
    assert client.get(url).status_code == 404


def test_in_demo_mode_the_signing_up_browser_reads_its_welcome_email(
    client, password, settings
):
    settings.DEMO_MODE = True
    signup(client, "demo-new@example.com", password)
    welcome = OutgoingEmail.objects.get(to_address="demo-new@example.com")
    page = client.get(reverse("notifications:mailbox")).content.decode()
    assert welcome.subject in page
    url = reverse("notifications:email_detail", args=[welcome.pk])
    assert client.get(url).status_code == 200
    # Another browser does not.
    assert Client().get(url).status_code == 302


def test_a_sign_up_asked_while_the_queue_is_down_says_so_for_every_address(
    user, password
):
    from apps.accounts.models import SignupRequest
    from tests.processes import free_port

    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        pages = [
            signup(Client(), address, password)
            for address in (user.email, "nobody@example.com")
        ]
    for page in pages:
        assert page.status_code == 200
        assert "We could not take your request just now." in page.content.decode()
    assert User.objects.count() == 1
    assert not SignupRequest.objects.exists()


def test_signup_errors_stand_next_to_their_fields(client, password):
    page = signup(client, "not-an-address", password).content.decode()
    assert 'id="id_email_error"' in page

    page = signup(client, "x@example.com", password, password + "x").content.decode()
    assert 'id="id_password2_error"' in page
    assert "The two passwords differ." in page

    page = signup(client, "y@example.com", "123").content.decode()
    assert 'id="id_password1_error"' in page
    assert "too short" in page
    assert not User.objects.exists()


def test_login_with_the_address_in_any_case(client, user, password):
    response = client.post(
        reverse("accounts:login"),
        {"username": user.email.upper(), "password": password},
    )
    assert response.status_code == 302
    assert client.get(reverse("accounts:account")).status_code == 200


def test_logout_is_a_post(client, user):
    client.force_login(user)
    assert client.get(reverse("accounts:logout")).status_code == 405
    client.post(reverse("accounts:logout"))
    assert client.get(reverse("accounts:account")).status_code == 302


def test_verify_link_opened_logged_in_says_the_address_is_verified(client, user):
    # As after "resend the verification email" on the account page.
    client.force_login(user)
    url = reverse("accounts:verify_email", args=[tokens.make_verification_token(user)])
    response = client.get(url)
    assert response.status_code == 200
    assert f"{user.email} is verified" in response.content.decode()
    user.refresh_from_db()
    assert user.is_verified


def test_broken_verify_link_explains_itself(client):
    response = client.get(reverse("accounts:verify_email", args=["nonsense"]))
    assert response.status_code == 400
    assert "This verification link does not work" in response.content.decode()


def test_password_change(client, user, password):
    client.force_login(user)
    response = client.post(
        reverse("accounts:password_change"),
        {
            "old_password": password,
            "new_password1": "An0ther-long-secret",
            "new_password2": "An0ther-long-secret",
        },
    )
    assert response["Location"] == reverse("accounts:account")
    user.refresh_from_db()
    assert user.check_password("An0ther-long-secret")


def test_password_reset_email_goes_through_the_worker_and_its_link_works(
    client, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:password_reset"), {"email": user.email}
        )
    assert response["Location"] == reverse("accounts:password_reset_done")
    reset = OutgoingEmail.objects.get(owner=user, template="password_reset")
    assert reset.status == "succeeded"
    assert len(mail.outbox) == 1

    link = re.search(
        r"http://testserver(/accounts/password/reset/\S+/)", reset.body_text
    )
    page = client.get(link.group(1), follow=True)
    assert b"Choose a new password" in page.content
    response = client.post(
        page.redirect_chain[-1][0],
        {"new_password1": "Br4nd-new-secret", "new_password2": "Br4nd-new-secret"},
    )
    assert response["Location"] == reverse("accounts:login")
    user.refresh_from_db()
    assert user.check_password("Br4nd-new-secret")


def test_password_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client):
    response = client.post(
        reverse("accounts:password_reset"), {"email": "nobody@example.com"}
    )
    assert response["Location"] == reverse("accounts:password_reset_done")
    assert not OutgoingEmail.objects.exists()


def test_resend_verification_from_the_account_page(client, user):
    client.force_login(user)
    response = client.post(reverse("accounts:resend_verification"), follow=True)
    assert b"A new verification link is on its way" in response.content
    assert OutgoingEmail.objects.filter(owner=user, template="verify_email").exists()


def test_post_without_csrf_token_is_refused(password):
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        reverse("accounts:signup"),
        {"email": "csrf@example.com", "password1": password, "password2": password},
    )
    assert response.status_code == 403
    assert not User.objects.exists()


@pytest.mark.parametrize("length", [255, 300, 320])
def test_an_address_longer_than_the_column_is_a_form_error_not_a_500(
    client, password, length
):
    local = "a" * 64
    domain = ("b" * 60 + ".") * 5
    email = f"{local}@{domain}"[: length - 4] + ".com"
    assert len(email) == length
    response = signup(client, email, password)
    assert response.status_code == 200
    assert "Ensure this value has at most 254 characters" in response.content.decode()
    assert not User.objects.exists()


def test_every_account_form_field_fits_its_column():
    from django.contrib.auth.forms import AuthenticationForm

    from apps.accounts import forms

    column = User._meta.get_field("email").max_length
    assert forms.SignUpForm().fields["email"].max_length == column
    assert forms.PasswordResetForm().fields["email"].max_length == column
    assert AuthenticationForm().fields["username"].max_length == column


@pytest.mark.parametrize("demo_mode", [False, True])
def test_a_reset_request_never_looks_the_address_up_while_the_person_waits(
    user, settings, demo_mode
):
    """Same answer, same queries, for an address with an account and without:
    nothing to time, nothing to tell them apart. The worker looks it up."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.DEMO_MODE = demo_mode
    answers, queries = [], []
    for address in (user.email, "nobody@example.com"):
        # Published for real (to memory), not run inline as eager tests do.
        with CaptureQueriesContext(connection) as captured, use_broker("memory://"):
            response = Client().post(
                reverse("accounts:password_reset"), {"email": address}
            )
        answers.append((response.status_code, response["Location"]))
        queries.append([q["sql"] for q in captured.captured_queries])
    assert answers[0] == answers[1]
    assert len(queries[0]) == len(queries[1])
    assert not any("accounts_user" in sql for sql in queries[0] + queries[1])


def test_the_login_page_lists_the_demo_logins_only_in_demo_mode(client, settings):
    settings.DEMO_MODE = True
    page = client.get(reverse("accounts:login")).content.decode()
    assert "demo@example.com" in page and "demo-password" in page
    settings.DEMO_MODE = False
    page = client.get(reverse("accounts:login")).content.decode()
    assert "demo-password" not in page


def test_sign_up_shows_every_error_at_once_without_the_hints(client):
    page = signup(client, "", "123", "456").content.decode()
    assert 'id="id_email_error"' in page
    assert "too short" in page  # Checked although the two passwords differ.
    assert "The two passwords differ." in page
    assert 'id="id_password1_helptext"' not in page


def test_a_reset_asked_while_the_queue_is_down_says_so_for_every_address(client, user):
    from tests.processes import free_port

    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        pages = [
            client.post(reverse("accounts:password_reset"), {"email": address})
            for address in (user.email, "nobody@example.com")
        ]
    for page in pages:
        assert page.status_code == 200
        assert "We could not take your request just now." in page.content.decode()
