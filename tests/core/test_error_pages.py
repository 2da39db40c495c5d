"""Branded error pages: what a person sees when something is not right."""

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_404_is_a_branded_page_with_the_way_home(client):
    response = client.get("/no-such-page/")
    page = response.content.decode()
    assert response.status_code == 404
    assert "There is nothing here" in page
    assert 'href="/"' in page and "Jobs Demo" in page


def test_400_is_branded(client):
    # A cookie header Django cannot parse into a session is fine; a bad Host
    # is a 400 that Django renders with 400.html.
    response = client.get("/", headers={"host": "evil.example"})
    assert response.status_code == 400
    assert "That request could not be read" in response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert "camera=()" in response["Permissions-Policy"]


def test_a_form_without_its_csrf_token_explains_itself(user):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("accounts:login"), {"username": "x"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()


def test_403_is_branded(rf):
    # What Django answers a view that raises PermissionDenied.
    from django.core.exceptions import PermissionDenied
    from django.views.defaults import permission_denied

    response = permission_denied(rf.get("/"), PermissionDenied())
    page = response.content.decode()
    assert response.status_code == 403
    assert "You may not do that" in page
    assert "Jobs Demo" in page and 'href="/"' in page
    assert "403 Forbidden" not in page  # Django's bare page.


def test_500_page_renders_without_any_context():
    page = render_to_string("500.html")
    assert "Something went wrong on our side" in page


def test_429_page_says_when_to_try_again():
    page = render_to_string("429.html", {"message": "Try again in 5 minutes."})
    assert "Too many attempts" in page and "Try again in 5 minutes." in page


class Unreadable:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def test_a_body_over_the_limit_is_refused_unread(client, user, settings):
    settings.REQUEST_MAX_BYTES = 1000
    client.force_login(user)
    response = client.post(
        reverse("uploads:gallery"),
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH="1001",
        **{"wsgi.input": Unreadable()},
    )
    page = response.content.decode().replace("\xa0", " ")
    assert response.status_code == 413
    assert "larger than 1000 bytes" in page and "fewer or smaller files" in page
    assert user.email in page  # The page knows who is signed in.
    assert "Connection" not in response  # Hop-by-hop: not the app's to set.


def test_a_body_within_the_limit_reaches_the_view(client, user, settings):
    settings.REQUEST_MAX_BYTES = 10_000
    client.force_login(user)
    response = client.post(reverse("uploads:gallery"), {"images": []})
    assert response.status_code != 413


def test_a_browser_asking_for_favicon_ico_finds_the_icon(client):
    # Asked on pages that link no icon (the admin's, /healthz); a 404 there
    # was logged on every such page.
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
