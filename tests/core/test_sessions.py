"""The session store (apps.core.sessions): Django's database sessions with a
leaner read, which must answer exactly as Django's own does."""

from datetime import timedelta

import pytest
from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.core.sessions import SessionStore

pytestmark = pytest.mark.django_db


def stored(**data) -> str:
    session = SessionStore()
    session.update(data)
    session.create()
    return session.session_key


@pytest.mark.parametrize(
    "case", ["live", "expired", "unknown", "tampered", "malformed key"]
)
def test_it_reads_what_djangos_database_store_reads(case):
    key = stored(cart=[1, 2], name="Ada")
    if case == "expired":
        Session.objects.filter(pk=key).update(
            expire_date=timezone.now() - timedelta(seconds=1)
        )
    elif case == "unknown":
        key = "x" * 32
    elif case == "tampered":
        Session.objects.filter(pk=key).update(session_data="bad:data")
    elif case == "malformed key":
        key = "no'; DROP TABLE django_session; --"

    ours, django = SessionStore(key), db.SessionStore(key)
    assert ours.load() == django.load()
    assert ours.session_key == django.session_key
    if case == "live":
        assert ours.load() == {"cart": [1, 2], "name": "Ada"}
    elif case == "tampered":  # Found, but not ours to trust: empty.
        assert ours.load() == {}
    else:
        assert ours.load() == {} and ours.session_key is None
    assert Session.objects.exists() or case == "malformed key"


def test_logging_in_and_out_works_through_it(client: Client, user, password):
    response = client.post(
        reverse("accounts:login"), {"username": user.email, "password": password}
    )
    assert response.status_code == 302
    assert client.get(reverse("orders:list")).status_code == 200
    key = client.cookies["sessionid"].value
    assert SessionStore(key).load()["_auth_user_id"] == str(user.pk)
    client.post(reverse("accounts:logout"))
    assert SessionStore(key).load() == {}
    assert client.get(reverse("orders:list")).status_code == 302
