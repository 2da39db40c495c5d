"""Security and privacy headers on every kind of page (ARCHITECTURE, RELIABILITY)."""

import pytest
from django.urls import reverse

from apps.notifications import services as mail

pytestmark = pytest.mark.django_db


def csp_directives(response) -> dict[str, list[str]]:
    parts = response["Content-Security-Policy"].split(";")
    return {name: values for name, *values in (p.split() for p in parts if p.strip())}


def anonymous_pages(client):
    return {
        "home": client.get("/"),
        "login": client.get(reverse("accounts:login")),
        "signup": client.get(reverse("accounts:signup")),
        "not found": client.get("/no-such-page/"),
        "health": client.get("/healthz"),
    }


def private_pages(client, user):
    email = mail.email_queue(owner=user, template="welcome", context={})
    client.force_login(user)
    return {
        "orders": client.get(reverse("orders:list")),
        "new order": client.get(reverse("orders:new")),
        "mailbox": client.get(reverse("notifications:mailbox")),
        "email": client.get(reverse("notifications:email_detail", args=[email.pk])),
        "account": client.get(reverse("accounts:account")),
        "job status": client.get(
            reverse("core:job_status", args=["notifications.outgoingemail", email.pk])
        ),
        "job list status": client.get(
            reverse("core:job_list_status", args=["notifications.outgoingemail"])
            + f"?id={email.pk}"
        ),
    }


def test_every_page_forbids_inline_script_and_framing(client, user):
    for name, response in {
        **anonymous_pages(client),
        **private_pages(client, user),
    }.items():
        directives = csp_directives(response)
        assert directives["script-src"] == ["'self'"], name
        assert "'unsafe-eval'" not in response["Content-Security-Policy"], name
        assert directives["frame-ancestors"] == ["'none'"], name
        assert directives["object-src"] == ["'none'"], name
        assert "camera=()" in response["Permissions-Policy"], name


def test_pages_and_statuses_a_logged_in_user_sees_are_never_stored(client, user):
    for name, response in private_pages(client, user).items():
        assert response.status_code == 200, name
        assert "no-store" in response["Cache-Control"], name
        assert "private" in response["Cache-Control"], name


def test_what_a_logged_out_browser_is_shown_from_its_session_is_never_stored(
    client, user, settings
):
    # In demo mode its mailbox holds the password-reset link it asked for.
    settings.DEMO_MODE = True
    client.post(reverse("accounts:password_reset"), {"email": user.email})
    reset_email = user.notifications_outgoingemails.get(template="password_reset")
    for url in (
        reverse("notifications:mailbox"),
        reverse("notifications:mailbox_list"),
        reverse("notifications:email_detail", args=[reset_email.pk]),
        reverse("accounts:password_reset_done"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "no-store" in response["Cache-Control"], url


def test_public_pages_may_be_cached(client):
    assert "Cache-Control" not in anonymous_pages(client)["home"]


def test_no_template_carries_inline_script():
    from pathlib import Path

    from django.conf import settings

    for path in Path(settings.BASE_DIR, "templates").rglob("*.html"):
        text = path.read_text()
        for line in text.splitlines():
            if "<script" in line:
                assert "src=" in line, f"{path}: inline <script>"
        for handler in (" onclick=", " onload=", " onsubmit=", "hx-on", "javascript:"):
            assert handler not in text, f"{path}: {handler.strip()}"


def test_static_files_keep_their_cache_even_for_a_logged_in_user(
    client, user, settings
):
    client.force_login(user)
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")
