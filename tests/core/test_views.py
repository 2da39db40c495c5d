import pytest
from django.urls import reverse

from apps.notifications import services as mail
from apps.notifications.models import OutgoingEmail
from tests.brokers import use_broker
from tests.factories import UserFactory
from tests.processes import free_port

pytestmark = pytest.mark.django_db


def test_home_page_explains_the_app_and_links_to_sign_up(client):
    page = client.get("/").content.decode()
    assert "Background jobs you can watch" in page
    assert reverse("accounts:signup") in page


def test_healthz_answers_without_touching_anything(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok"


def test_readyz_reports_database_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}


def test_readyz_is_503_when_the_broker_is_down(client):
    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["broker"] == "unavailable"


def make_email(owner):
    return mail.email_queue(
        owner=owner, template="welcome", context={"verify_url": "u"}
    )


def test_status_fragment_polls_while_the_job_runs(client, user):
    email = make_email(user)
    client.force_login(user)
    url = reverse("core:job_status", args=["notifications.outgoingemail", email.pk])
    html = client.get(url).content.decode()
    assert f'hx-get="{url}"' in html
    assert 'data-status="queued"' in html


def test_status_fragment_stops_polling_once_final(client, user):
    email = make_email(user)
    OutgoingEmail.objects.filter(pk=email.pk).update(status="succeeded")
    client.force_login(user)
    html = client.get(
        reverse("core:job_status", args=["notifications.outgoingemail", email.pk])
    ).content
    assert b"hx-get" not in html
    assert b'data-status="succeeded"' in html


def test_status_fragment_of_another_users_job_is_404(client, user):
    email = make_email(user)
    client.force_login(UserFactory())
    response = client.get(
        reverse("core:job_status", args=["notifications.outgoingemail", email.pk])
    )
    assert response.status_code == 404


def test_status_fragment_needs_login(client, user):
    email = make_email(user)
    response = client.get(
        reverse("core:job_status", args=["notifications.outgoingemail", email.pk])
    )
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_status_poll_after_the_session_expired_sends_the_page_to_login(client, user):
    email = make_email(user)
    response = client.get(
        reverse("core:job_status", args=["notifications.outgoingemail", email.pk]),
        headers={
            "HX-Request": "true",
            "HX-Current-URL": "http://testserver/accounts/welcome/",
        },
    )
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/accounts/login/?next=%2Faccounts%2Fwelcome%2F"


def test_status_poll_for_a_job_that_is_gone_stops_polling(client, user):
    email = make_email(user)
    client.force_login(user)
    url = reverse("core:job_status", args=["notifications.outgoingemail", email.pk])
    email.delete()
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 286  # htmx: stop polling.
    assert b"no longer exists" in response.content
    assert client.get(url).status_code == 404
