import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import OperationalError, connection
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.core import status
from apps.notifications import services as mail
from apps.notifications.models import OutgoingEmail
from tests.brokers import use_broker
from tests.factories import UserFactory
from tests.jobkit.models import SampleJob
from tests.jobkit.runs import run_attempt
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


def test_readyz_stays_ready_but_says_so_when_the_broker_is_down(client):
    # Every web process shares the broker: failing readiness on it would take
    # the whole site out of service, while its pages still work.
    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "unavailable"}


def test_readyz_is_503_when_the_database_is_down(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["database"] == "unavailable"


def make_email(owner):
    return mail.email_queue(
        owner=owner, template="welcome", context={"verify_url": "u"}
    )


def test_status_fragment_polls_while_the_job_runs(client, user):
    email = make_email(user)
    client.force_login(user)
    url = reverse("core:job_status", args=["notifications.outgoingemail", email.pk])
    html = client.get(url).content.decode()
    assert re.search(rf'hx-get="{url}\?v=[0-9a-f]{{32}}"', html)
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


# The core job endpoints, on the test-only SampleJob (tests.jobkit).


def status_url(job):
    return reverse("core:job_status", args=["jobkit.samplejob", job.pk])


def cancel_url(job):
    return reverse("core:job_cancel", args=["jobkit.samplejob", job.pk])


def list_url(*jobs):
    ids = "&".join(f"id={job.pk}" for job in jobs)
    return f"{reverse('core:job_list_status', args=['jobkit.samplejob'])}?{ids}"


def test_status_box_offers_cancel_only_where_the_job_type_allows_it(
    client, user, make_job
):
    client.force_login(user)
    job = make_job()
    html = client.get(status_url(job)).content.decode()
    assert f'hx-post="{cancel_url(job)}"' in html
    SampleJob.objects.filter(pk=job.pk).update(status="succeeded")
    assert "job-cancel" not in client.get(status_url(job)).content.decode()


def test_cancel_by_htmx_answers_with_the_cancelled_box(client, user, make_job):
    client.force_login(user)
    job = make_job()
    response = client.post(cancel_url(job), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'data-status="cancelled"' in html
    assert "Cancelled before it ran" in html
    assert "hx-get" not in html  # Final: polling stops.
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_cancel_without_htmx_goes_back_to_the_page_it_came_from(client, user, make_job):
    client.force_login(user)
    job = make_job()
    response = client.post(cancel_url(job), {"next": "/orders/"})
    assert response["Location"] == "/orders/"
    other = make_job()
    response = client.post(cancel_url(other), {"next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_cancel_of_a_finished_job_says_it_is_too_late(client, user, make_job):
    client.force_login(user)
    job = make_job()
    SampleJob.objects.filter(pk=job.pk).update(status="succeeded")
    response = client.post(cancel_url(job), headers={"HX-Request": "true"})
    assert "It can no longer be cancelled." in response.content.decode()


def test_cancel_needs_the_csrf_token(user, make_job):
    job = make_job()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(cancel_url(job)).status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"


def test_another_users_job_is_404_on_every_job_endpoint(client, make_job):
    job = make_job()
    client.force_login(UserFactory())
    assert client.get(status_url(job)).status_code == 404
    assert client.post(cancel_url(job)).status_code == 404
    assert client.get(list_url(job)).json() == {"jobs": []}
    job.refresh_from_db()
    assert job.status == "queued"


def test_unknown_job_type_is_404(client, user):
    client.force_login(user)
    assert (
        client.get(reverse("core:job_status", args=["auth.user", 1])).status_code == 404
    )
    assert client.get(reverse("core:job_list_status", args=["nope"])).status_code == 404


def test_list_status_answers_for_many_jobs_at_once_in_json(client, user, make_job):
    client.force_login(user)
    queued, done = make_job(), make_job()
    SampleJob.objects.filter(pk=done.pk).update(status="succeeded", progress=100)
    answer = client.get(list_url(queued, done)).json()["jobs"]
    assert {(j["id"], j["status"], j["final"]) for j in answer} == {
        (queued.pk, "queued", False),
        (done.pk, "succeeded", True),
    }
    for bad in ("x", "1_0", " 1", "9" * 19, "-1", "١"):
        assert client.get(f"{list_url(queued)}&id={bad}").status_code == 400, bad


def test_list_status_for_htmx_swaps_badges_and_stops_once_all_are_final(
    client, user, make_job
):
    client.force_login(user)
    job = make_job()
    response = client.get(list_url(job), headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'id="job-badge-jobkit.samplejob-{job.pk}"' in html
    assert 'hx-swap-oob="true"' in html
    SampleJob.objects.filter(pk=job.pk).update(status="succeeded")
    response = client.get(list_url(job), headers={"HX-Request": "true"})
    assert response.status_code == 286  # htmx: stop polling.


def test_status_box_shows_the_attempt_history_as_a_strip_and_a_log(
    client, user, make_job
):
    client.force_login(user)
    job = make_job(plan="retry,ok")
    run_attempt(job)
    run_attempt(job)
    html = client.get(status_url(job)).content.decode()
    assert "History: 2 attempts" in html
    assert 'class="strip-queued"' in html
    assert 'class="strip-retry-wait"' in html
    assert html.count('class="strip-running"') == 2 + 1  # Two attempts + legend.
    assert "Attempt 1 failed after" in html
    assert ": sample outage. Retry planned in" in html
    assert re.search(r"Retried [\d.]+ s later: attempt 2 started\.", html)
    assert "Attempt 2 succeeded in" in html
    assert "HTTP 503" not in html  # Staff detail never reaches the page.


def test_status_box_says_when_a_worker_was_lost_or_a_retry_waits_for_a_worker(
    client, user, make_job
):
    client.force_login(user)
    lost, overdue = make_job(), make_job()
    past = timezone.now() - timedelta(seconds=30)
    SampleJob.objects.filter(pk=lost.pk).update(
        status="running", attempts=1, lease_expires_at=past
    )
    SampleJob.objects.filter(pk=overdue.pk).update(
        status="retrying", attempts=1, next_retry_at=past, error_message="outage"
    )
    assert (
        "The worker running this stopped answering. Another worker will take it "
        "over within seconds; nothing is done twice."
    ) in client.get(status_url(lost)).content.decode()
    assert (
        "Attempt 1 of 3 failed (outage), waiting for a worker to retry it; it will "
        "start as soon as one is free."
    ) in client.get(status_url(overdue)).content.decode()


# Polls of a job that has not changed: answered 204 (htmx leaves the box as
# it is) from one small query, however often they come.


def poll_url_of(client, job) -> str:
    """Draw the job's box as its page does; the URL its poll asks, with the
    version the box carries."""
    html = client.get(status_url(job)).content.decode()
    return re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")


def poll(client, job):
    """Poll the job's box as htmx does, with the version it carries; the
    poll's response."""
    return client.get(poll_url_of(client, job), headers={"HX-Request": "true"})


def test_a_poll_of_an_unchanged_job_is_answered_204_with_one_query(
    client, user, make_job, django_assert_num_queries
):
    client.force_login(user)
    job = make_job()
    poll_url = poll_url_of(client, job)
    with django_assert_num_queries(1):  # The job's row; not the session.
        response = client.get(poll_url, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response.content == b""
    assert "no-store" in response["Cache-Control"]


def test_a_poll_after_the_job_changed_draws_the_box_with_a_new_version(
    client, user, make_job
):
    client.force_login(user)
    job = make_job()
    html = client.get(status_url(job)).content.decode()
    first = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    SampleJob.objects.filter(pk=job.pk).update(progress=40, stage="Halfway")
    response = client.get(first, headers={"HX-Request": "true"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Halfway" in html
    second = re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert second != first
    assert client.get(second, headers={"HX-Request": "true"}).status_code == 204


def test_a_box_that_changes_with_the_clock_is_always_drawn(client, user, make_job):
    client.force_login(user)
    retrying, running = make_job(), make_job()
    soon = timezone.now() + timedelta(seconds=30)
    SampleJob.objects.filter(pk=retrying.pk).update(
        status="retrying", attempts=1, next_retry_at=soon, error_message="outage"
    )
    SampleJob.objects.filter(pk=running.pk).update(
        status="running", attempts=1, lease_expires_at=timezone.now()
    )
    # A retry counts down; a running job whose lease lapsed has lost its worker.
    assert poll(client, retrying).status_code == 200
    response = poll(client, running)
    assert response.status_code == 200
    assert "stopped answering" in response.content.decode()


def test_an_unchanged_box_is_still_redrawn_now_and_then(client, user, make_job):
    client.force_login(user)
    job = make_job()
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        url = poll_url_of(client, job)
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 204
        traveller.shift(status.REDRAW_SECONDS)
        assert client.get(url, headers={"HX-Request": "true"}).status_code == 200


def test_a_version_is_no_key_to_another_users_job(client, user, make_job):
    job = make_job()
    client.force_login(user)
    url = poll_url_of(client, job)
    client.force_login(UserFactory())
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 286  # Drawn in full: "no longer exists".
    assert b"no longer exists" in response.content
    client.logout()
    response = client.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"].startswith(reverse("accounts:login"))


def test_a_version_is_no_key_in_another_browser_of_the_same_user(
    client, user, make_job
):
    job = make_job()
    client.force_login(user)
    url = poll_url_of(client, job)
    other_browser = Client()
    other_browser.force_login(user)
    response = other_browser.get(url, headers={"HX-Request": "true"})
    assert response.status_code == 200  # Drawn in full, after the login check.
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 204


def test_a_made_up_version_is_answered_in_full(client, user, make_job):
    job = make_job()
    client.force_login(user)
    url = poll_url_of(client, job)
    version = url.rsplit("v=", 1)[1]
    for forged in ("0" * len(version), version[:-1], version + "0", "x"):
        response = client.get(
            url.replace(f"v={version}", f"v={forged}"),
            headers={"HX-Request": "true"},
        )
        assert response.status_code == 200


def test_a_poll_from_another_session_is_refused_before_the_database_is_asked(
    user, make_job, django_assert_num_queries
):
    # Whether a row exists would otherwise show in how long the answer takes.
    job = SampleJob.objects.get(pk=make_job().pk)  # As a page loads it.
    version = status.box_version(job, "the-owners-session")
    with django_assert_num_queries(0):
        for session in ("another-session", ""):
            assert not status.box_unchanged(
                SampleJob, job.pk, session=session, version=version
            )
        assert not status.box_unchanged(
            SampleJob, job.pk + 1, session="the-owners-session", version=version
        )
    with django_assert_num_queries(1):
        assert status.box_unchanged(
            SampleJob, job.pk, session="the-owners-session", version=version
        )


# What a box is drawn from and what a poll reads must give one fingerprint for
# one row, whatever its columns hold (SQLite hands the driver text for dates,
# datetimes and decimals; PostgreSQL objects).


def report_of(owner):
    from apps.reports.models import Report

    return Report.objects.create(
        owner=owner,
        kind=Report.Kind.choices[0][0],
        start=date(2026, 1, 1),
        end=date(2026, 1, 31),
        expires_at=timezone.now(),
    )


def payment_of(owner):
    from apps.orders.models import Order, Payment

    order = Order.objects.create(
        owner=owner, total=Decimal("28.90"), checkout_token=uuid.uuid4()
    )
    return Payment.objects.create(
        owner=owner,
        order=order,
        amount=Decimal("28.90"),
        card_token="tok",
        idempotency_key=uuid.uuid4().hex,
        started_at=timezone.now(),
    )


@pytest.mark.parametrize("make", [report_of, payment_of], ids=["report", "payment"])
def test_a_box_and_a_poll_of_the_same_row_agree(user, make):
    job = make(user)
    job = type(job).objects.get(pk=job.pk)  # As a page loads it.
    version = status.box_version(job, "a-session-key")
    assert status.box_unchanged(
        type(job), job.pk, session="a-session-key", version=version
    )


def test_a_box_drawn_from_a_row_that_changed_since_is_drawn_again(
    client, user, make_job
):
    client.force_login(user)
    job = make_job()
    stale = SampleJob.objects.get(pk=job.pk)  # The page's view loaded it...
    SampleJob.objects.filter(pk=job.pk).update(progress=70, stage="Seventy")
    page = RequestFactory().get("/")
    # The browser's cookies, its session's included.
    page.COOKIES = {name: morsel.value for name, morsel in client.cookies.items()}
    context = status.box_context(stale, page)  # ...and its template draws it.
    response = client.get(context["poll_url"], headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Seventy" in response.content.decode()


def test_a_worker_found_again_clears_the_warning_at_the_next_poll(
    client, user, make_job
):
    client.force_login(user)
    job = make_job()
    SampleJob.objects.filter(pk=job.pk).update(
        status="running", attempts=1, lease_expires_at=timezone.now()
    )
    response = poll(client, job)
    assert "stopped answering" in response.content.decode()
    url = re.search(r'hx-get="([^"]+)"', response.content.decode()).group(1)
    # A slow worker's heartbeat renews the lease: nothing else changes.
    SampleJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() + timedelta(seconds=15)
    )
    response = client.get(url.replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "stopped answering" not in response.content.decode()


def test_a_poll_for_an_id_too_big_for_the_database_is_not_an_error(client, user):
    client.force_login(user)
    url = reverse("core:job_status", args=["jobkit.samplejob", 2**63])
    response = client.get(f"{url}?v=0123456789abcdef", headers={"HX-Request": "true"})
    assert response.status_code == 286
