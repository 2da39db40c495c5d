"""Activity: every job of a user's, of every type, read from the job tables
(one query per type), newest first, filtered and paged."""

from datetime import date, timedelta
from uuid import uuid4

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core import selectors as job_selectors
from apps.notifications import activity
from apps.notifications.models import Announcement, AnnouncementChunk, OutgoingEmail
from apps.orders.models import Invoice, Order, OrderImport, Payment
from apps.reports.models import Report
from apps.uploads.models import Image, UploadBatch
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def one_job_of_each_type(owner) -> list:
    """One row of every job type, oldest first, each a minute apart."""
    order = Order.objects.create(owner=owner, total=10, checkout_token=uuid4())
    batch = UploadBatch.objects.create(owner=owner)
    jobs = [
        OutgoingEmail.objects.create(
            owner=owner,
            template="welcome",
            to_address=owner.email,
            from_address="x@example.com",
            subject="Welcome",
            body_text="A long body. " * 1000,
            idempotency_key=f"e{owner.pk}",
        ),
        Payment.objects.create(
            owner=owner,
            order=order,
            amount=10,
            card_token="t",
            card_last4="4242",
            idempotency_key=f"p{owner.pk}",
            status="failed",
            error_message="Card declined",
        ),
        Invoice.objects.create(owner=owner, order=order, stored_file="i.pdf"),
        OrderImport.objects.create(owner=owner, file_name="orders.csv", file_size=10),
        Report.objects.create(
            owner=owner,
            kind="sales_summary",
            start=date(2026, 1, 1),
            end=date(2026, 1, 31),
        ),
        Image.objects.create(
            owner=owner,
            batch=batch,
            name="cat.jpg",
            format="JPEG",
            width=1,
            height=1,
            size=1,
            folder="uploads/x",
            original="uploads/x/o.jpg",
            status="running",
            progress=40,
            started_at=timezone.now(),
        ),
    ]
    announcement = Announcement.objects.create(
        owner=owner, subject="Hello", body="b", audience="staff"
    )
    jobs += [
        announcement,
        AnnouncementChunk.objects.create(
            owner=owner, announcement=announcement, number=0, user_ids=[owner.pk]
        ),
    ]
    start = timezone.now() - timedelta(hours=1)
    for minutes, job in enumerate(jobs):
        type(job).objects.filter(pk=job.pk).update(
            created_at=start + timedelta(minutes=minutes)
        )
    return jobs


def test_every_job_type_is_covered():
    covered = {type(job) for job in one_job_of_each_type(UserFactory())}
    project = {
        m for m in job_selectors.job_models() if m.__module__.startswith("apps.")
    }
    assert covered == project


def test_a_users_jobs_of_every_type_newest_first_and_nobody_elses(
    user, django_assert_max_num_queries
):
    mine = one_job_of_each_type(user)
    one_job_of_each_type(UserFactory())

    with django_assert_max_num_queries(len(job_selectors.job_models())):
        page = activity.activity_of(user)
        shown = [(type(job), job.pk) for job in page.jobs]

    assert shown == [(type(job), job.pk) for job in reversed(mine)]
    assert page.older is None


def test_filtered_by_kind_and_state(user):
    one_job_of_each_type(user)
    assert [str(j) for j in activity.activity_of(user, kind="uploads.image").jobs] == [
        "cat.jpg"
    ]
    failed = activity.activity_of(user, state="failed").jobs
    assert [type(job) for job in failed] == [Payment]


def test_paged_by_cursor(user, monkeypatch):
    monkeypatch.setattr(activity, "PAGE_SIZE", 3)
    jobs = one_job_of_each_type(user)
    seen = []
    page = activity.activity_of(user)
    while True:
        seen += page.jobs
        if page.older is None:
            break
        page = activity.activity_of(user, before=page.older)
    assert [(type(j), j.pk) for j in seen] == [(type(j), j.pk) for j in reversed(jobs)]


def test_the_page_links_each_job_to_its_own_page_and_refreshes_itself(client, user):
    jobs = one_job_of_each_type(user)
    client.force_login(user)

    response = client.get(reverse("notifications:activity"))

    page = response.content.decode()
    for job in jobs:
        assert f'href="{job.get_absolute_url()}"' in page
    assert "Card declined" in page and "0 of 5" in page
    assert 'value="40"' in page  # The running image's progress.
    assert 'hx-trigger="every 3s"' in page
    fragment = client.get(
        reverse("notifications:activity"),
        {"kind": "orders.payment"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert (
        "<h1>" not in fragment and "Payment #" in fragment and "cat.jpg" not in fragment
    )


def test_odd_filters_are_ignored_not_errors(client, user):
    client.force_login(user)
    response = client.get(
        reverse("notifications:activity"),
        {"kind": "auth.user", "state": "<x>", "before": "yesterday"},
    )
    assert response.status_code == 200


def test_activity_needs_a_login(client):
    response = client.get(reverse("notifications:activity"))
    assert response.status_code == 302


def test_jobs_created_in_the_same_instant_are_each_shown_once(user, monkeypatch):
    monkeypatch.setattr(activity, "PAGE_SIZE", 4)
    jobs = one_job_of_each_type(user)
    instant = timezone.now()
    for job in jobs:  # All at once, across the types.
        type(job).objects.filter(pk=job.pk).update(created_at=instant)
    seen = []
    page = activity.activity_of(user)
    while True:
        seen += [(type(j), j.pk) for j in page.jobs]
        if page.older is None:
            break
        cursor = activity.Cursor.parse(str(page.older))  # Through the link.
        page = activity.activity_of(user, before=cursor)
    assert sorted(seen, key=str) == sorted(((type(j), j.pk) for j in jobs), key=str)
    assert len(seen) == len(set(seen))


@pytest.mark.parametrize(
    "before",
    [
        "2024-02-30T00:00:00|orders.payment|1",
        "2024-01-01T25:00|orders.payment|1",
        "2024-01-01T00:00:00%2B99:00|x|1",
        "2024-01-01T00:00:00+00:00|x|-1",
        "2024-01-01T00:00:00+00:00|x|1|2",
        "|||",
    ],
)
def test_a_bad_cursor_shows_the_first_page(client, user, before):
    client.force_login(user)
    response = client.get(reverse("notifications:activity"), {"before": before})
    assert response.status_code == 200


def test_a_poll_after_the_session_ended_sends_the_page_to_the_login(client):
    for name in ("notifications:activity", "notifications:bell"):
        response = client.get(reverse(name), HTTP_HX_REQUEST="true")
        assert response.status_code == 204
        assert response["HX-Redirect"].startswith("/accounts/login/")
