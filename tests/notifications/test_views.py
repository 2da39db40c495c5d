import pytest
from django.test import Client, TestCase
from django.urls import reverse

from apps.notifications import services
from apps.notifications.models import OutgoingEmail
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def email_for(owner, body_html="<p>Hello</p>"):
    email = services.email_queue(owner=owner, template="welcome", context={})
    email.body_html = body_html
    email.save()
    return email


def test_user_sees_only_their_own_emails(client, user):
    mine, theirs = email_for(user), email_for(UserFactory())
    client.force_login(user)
    page = client.get(reverse("notifications:mailbox")).content.decode()
    assert reverse("notifications:email_detail", args=[mine.pk]) in page
    assert reverse("notifications:email_detail", args=[theirs.pk]) not in page
    response = client.get(reverse("notifications:email_detail", args=[theirs.pk]))
    assert response.status_code == 404


def test_staff_see_every_email_that_is_not_private(client, user):
    theirs = email_for(user)
    theirs.template = "order_paid"
    theirs.save()
    client.force_login(UserFactory(is_staff=True))
    response = client.get(reverse("notifications:email_detail", args=[theirs.pk]))
    assert response.status_code == 200


def test_even_in_debug_and_demo_mode_nobody_reads_another_persons_email(
    client, user, settings
):
    settings.DEBUG = settings.DEMO_MODE = True
    theirs = email_for(UserFactory())
    detail = reverse("notifications:email_detail", args=[theirs.pk])
    # Logged out: asked to log in, as for every mailbox page.
    assert client.get(reverse("notifications:mailbox")).status_code == 302
    assert client.get(detail).status_code == 302
    client.force_login(user)
    assert detail not in client.get(reverse("notifications:mailbox")).content.decode()
    assert client.get(detail).status_code == 404


def reset(client, address):
    """Ask for a reset, and run the task it enqueues, as a worker would."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(reverse("accounts:password_reset"), {"email": address})


def test_in_demo_mode_a_browser_reads_the_reset_email_it_asked_for_and_no_other(
    client, user, settings
):
    settings.DEMO_MODE = True
    other_browser = Client()
    reset(other_browser, UserFactory(email="someone@example.com").email)
    reset(client, user.email)
    mine = OutgoingEmail.objects.get(owner=user, template="password_reset")
    theirs = OutgoingEmail.objects.get(to_address="someone@example.com")
    page = client.get(reverse("notifications:mailbox")).content.decode()
    assert reverse("notifications:email_detail", args=[mine.pk]) in page
    assert reverse("notifications:email_detail", args=[theirs.pk]) not in page
    assert (
        client.get(reverse("notifications:email_detail", args=[mine.pk])).status_code
        == 200
    )
    assert (
        client.get(reverse("notifications:email_detail", args=[theirs.pk])).status_code
        == 404
    )
    # Nothing else of the user's: not their welcome email, for one.
    welcome = email_for(user)
    assert (
        client.get(reverse("notifications:email_detail", args=[welcome.pk])).status_code
        == 404
    )


def test_a_staff_accounts_reset_email_is_never_shown_in_the_mailbox(client, settings):
    settings.DEMO_MODE = True
    admin = UserFactory(email="admin@example.com", is_staff=True, is_superuser=True)
    reset(client, admin.email)
    assert OutgoingEmail.objects.filter(owner=admin, template="password_reset").exists()
    page = client.get(reverse("notifications:mailbox")).content.decode()
    assert "Reset your Jobs Demo password" not in page


def test_outside_demo_mode_a_reset_email_is_never_shared(client, user, settings):
    settings.DEMO_MODE = False
    reset(client, user.email)
    assert OutgoingEmail.objects.filter(owner=user, template="password_reset").exists()
    assert client.get(reverse("notifications:mailbox")).status_code == 302


def test_a_reset_for_an_unknown_address_looks_the_same_and_shows_nothing(
    client, settings
):
    settings.DEMO_MODE = True
    response = reset(client, "nobody@example.com")
    assert response["Location"] == reverse("accounts:password_reset_done")
    page = client.get(reverse("notifications:mailbox")).content.decode()
    assert "No emails yet" in page


def test_mailbox_asks_anonymous_visitors_to_log_in(client, user):
    email = email_for(user)
    for url in (
        reverse("notifications:mailbox"),
        reverse("notifications:mailbox_list"),
        reverse("notifications:email_detail", args=[email.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))


def test_mailbox_list_refreshes_itself_only_when_a_newer_email_arrived(client, user):
    client.force_login(user)
    page = client.get(reverse("notifications:mailbox")).content.decode()
    assert 'hx-get="/mailbox/list/?after=0"' in page
    assert "No emails yet" in page
    email = email_for(user)
    list_url = reverse("notifications:mailbox_list")
    assert client.get(f"{list_url}?after=0").status_code == 200
    assert client.get(f"{list_url}?after={email.pk}").status_code == 204


def test_mailbox_keeps_the_badges_of_own_emails_being_sent_live(client, user):
    email = email_for(user)
    client.force_login(user)
    page = client.get(reverse("notifications:mailbox")).content.decode()
    list_status = reverse("core:job_list_status", args=["notifications.outgoingemail"])
    assert f'hx-get="{list_status}?id={email.pk}"' in page


def test_email_html_is_shown_in_a_sandbox_without_scripts(client, user):
    email = email_for(user, body_html='<p>Hi</p><script>alert("x")</script>')
    client.force_login(user)
    page = client.get(reverse("notifications:email_detail", args=[email.pk])).content
    page = page.decode()
    assert 'sandbox="allow-top-navigation-by-user-activation' in page
    assert "allow-scripts" not in page
    assert "allow-same-origin" not in page
    # The markup lives escaped inside srcdoc, never as live tags of this page.
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert email.body_text in page


def test_staff_cannot_read_other_peoples_password_reset_links(client, user):
    reset = services.email_queue(
        owner=user,
        template="password_reset",
        context={"uid": "x", "token": "y", "protocol": "http", "domain": "testserver"},
    )
    receipt = email_for(user)
    receipt.template = "order_paid"
    receipt.save()
    client.force_login(UserFactory(is_staff=True))
    assert (
        client.get(reverse("notifications:email_detail", args=[reset.pk])).status_code
        == 404
    )
    assert (
        client.get(reverse("notifications:email_detail", args=[receipt.pk])).status_code
        == 200
    )
