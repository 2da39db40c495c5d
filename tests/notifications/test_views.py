import pytest
from django.urls import reverse

from apps.notifications import services
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


def test_in_debug_everyone_sees_every_email(client, user, settings):
    settings.DEBUG = True
    email = email_for(user)
    page = client.get(reverse("notifications:mailbox_list")).content.decode()
    assert reverse("notifications:email_detail", args=[email.pk]) in page


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
