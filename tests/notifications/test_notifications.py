import pytest
from django.urls import reverse

from apps.notifications import services
from apps.notifications.models import Notification
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_notify_once_per_key_then_read_them_all(client, user):
    for _ in range(2):  # A redelivered task notifies once.
        services.notify(
            owner=user, kind="k", message="Done", url="/x/", idempotency_key="a"
        )
    services.notify(owner=user, kind="k", message="Also done", idempotency_key="b")
    other = UserFactory()
    services.notify(owner=other, kind="k", message="Theirs", idempotency_key="c")

    client.force_login(user)
    page = client.get(reverse("notifications:list")).content.decode()
    assert 'aria-label="2 unread"' in page
    done = Notification.objects.get(idempotency_key="a")
    assert f'<a href="/notifications/{done.pk}/">Done</a>' in page
    assert "Also done" in page
    assert "Theirs" not in page

    client.post(reverse("notifications:read"))
    page = client.get(reverse("notifications:list")).content.decode()
    assert "unread" not in page
    assert Notification.objects.filter(owner=other, read_at=None).count() == 1
