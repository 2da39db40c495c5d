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


def test_500_page_renders_without_any_context():
    page = render_to_string("500.html")
    assert "Something went wrong on our side" in page


def test_429_page_says_when_to_try_again():
    page = render_to_string("429.html", {"message": "Try again in 5 minutes."})
    assert "Too many attempts" in page and "Try again in 5 minutes." in page
