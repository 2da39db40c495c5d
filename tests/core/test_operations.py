"""The staff operations page: staff only; failed jobs of every type retried
or discarded, one by one or ticked, each action recorded; and, against a
real Redis and a real worker, queue depths, the oldest message's age, the
workers, and pausing and resuming a queue."""

import re
from uuid import uuid4

import pytest
from celery import current_app
from django.urls import reverse
from django.utils import timezone

from apps.core.models import OperatorAction
from apps.notifications import services as notifications
from apps.notifications.models import OutgoingEmail
from tests.factories import UserFactory
from tests.processes import wait_until

pytestmark = pytest.mark.django_db

PAGES = ("core:operations", "core:operations_queues", "core:operations_jobs")


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True))
    return client


def failed_email(user, key):
    email = notifications.email_queue(
        owner=user, template="welcome", context={}, idempotency_key=key
    )
    OutgoingEmail.objects.filter(pk=email.pk).update(
        status="failed",
        error_message="The mail server refused the email (550).",
        attempts=5,
        finished_at=timezone.now(),
    )
    return email


def test_to_anyone_but_staff_there_is_no_operations_page(client, user):
    for viewer in (None, user):
        if viewer:
            client.force_login(viewer)
        for name in PAGES:
            assert client.get(reverse(name)).status_code == 404
        for name in ("core:operations_queue", "core:operations_act"):
            assert client.post(reverse(name), {"action": "retry"}).status_code == 404
    assert not OperatorAction.objects.exists()


def test_failed_jobs_are_retried_or_discarded_and_each_action_recorded(
    staff_client, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.core import operations

    monkeypatch.setattr(operations, "workers", lambda: [])  # No broker here.
    user = UserFactory()
    first, second, third = (failed_email(user, f"k{n}") for n in range(3))
    page = staff_client.get(reverse("core:operations")).content.decode()
    assert "Failed in the last hour" in page
    assert page.count("The mail server refused the email (550).") == 3
    assert f'value="notifications.outgoingemail:{first.pk}"' in page
    assert f"/admin/notifications/outgoingemail/{first.pk}/change/" in page

    act = reverse("core:operations_act")
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            act,
            {
                "action": "retry",
                "job": [
                    f"notifications.outgoingemail:{first.pk}",
                    f"notifications.outgoingemail:{second.pk}",
                    "auth.user:1",  # Not a job: ignored.
                    "notifications.outgoingemail:x",
                ],
            },
            follow=True,
        )
    assert "Retried 2 jobs. 2 were no longer failed" in response.content.decode()
    staff_client.post(act, {"discard_one": f"notifications.outgoingemail:{third.pk}"})
    # Again: it is not failed any more.
    again = staff_client.post(
        act, {"retry_one": f"notifications.outgoingemail:{third.pk}"}, follow=True
    )
    assert "Retried 0 jobs." in again.content.decode()

    statuses = dict(OutgoingEmail.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: "succeeded",  # Sent on the retry (run inline here).
        second.pk: "succeeded",
        third.pk: "cancelled",
    }
    actions = list(OperatorAction.objects.order_by("at", "id"))
    assert [(a.action, a.count) for a in actions] == [("retried", 2), ("discarded", 1)]
    assert actions[0].target == (
        f"notifications.outgoingemail:{first.pk}, "
        f"notifications.outgoingemail:{second.pk}"
    )
    log = staff_client.get(reverse("core:operations_jobs")).content.decode()
    assert "discarded notifications.outgoingemail:" in log
    assert 'hx-trigger="every 5s"' in log


def test_a_payment_is_not_charged_again_for_an_order_paid_meanwhile(
    staff_client, products
):
    from apps.orders.models import Order, Payment

    user = UserFactory()
    order = Order.objects.create(
        owner=user, total=10, status=Order.Status.PAID, checkout_token=uuid4()
    )
    payment = Payment.objects.create(
        owner=user,
        order=order,
        amount=10,
        card_token="t",
        card_last4="0002",
        idempotency_key="p1",
        status="failed",
        finished_at=timezone.now(),
    )
    response = staff_client.post(
        reverse("core:operations_act"),
        {"retry_one": f"orders.payment:{payment.pk}"},
        follow=True,
    )
    assert "Retried 0 jobs. 1 were no longer failed, or may not run again." in (
        response.content.decode()
    )
    payment.refresh_from_db()
    assert payment.status == "failed"


def test_bad_actions_are_refused(staff_client):
    act = reverse("core:operations_act")
    assert (
        staff_client.post(act, {"action": "delete", "job": ["x:1"]}).status_code == 400
    )
    assert staff_client.get(act).status_code == 405
    queue = reverse("core:operations_queue")
    assert (
        staff_client.post(queue, {"queue": "nope", "action": "pause"}).status_code
        == 400
    )
    assert (
        staff_client.post(queue, {"queue": "quick", "action": "x"}).status_code == 400
    )


@pytest.mark.worker
def test_queues_and_workers_as_the_broker_and_the_worker_see_them(
    start_worker, transactional_db, client
):
    client.force_login(UserFactory(is_staff=True))
    # A worker that consumes quick and critical only: heavy fills up.
    start_worker(queues="quick,critical", concurrency=2)
    for _ in range(3):
        current_app.send_task(
            "apps.reports.tasks.report_generate", args=[987654], queue="heavy"
        )

    def queues_part() -> str:
        response = client.get(reverse("core:operations_queues"))
        assert response.status_code == 200
        return re.sub(r"\s+", " ", response.content.decode())

    page = queues_part()
    row = re.search(r"<strong>heavy</strong>.*?</tr>", page)[0]
    assert '<td data-label="Waiting">3</td>' in row
    age = int(re.search(r'data-label="Oldest waiting">(\d+) s', row)[1])
    assert 0 <= age < 60
    assert "No worker takes from it" in row  # Nobody consumes heavy.
    quick = re.search(r"<strong>quick</strong>.*?</tr>", page)[0]
    assert "Paused" not in quick and "test-" in quick
    workers = re.search(r"<h2>Workers</h2>.*", page)[0]
    assert 'data-label="Concurrency">2<' in workers
    assert "critical, quick" in workers

    # Pause quick, then resume it: only where it was consumed.
    pause = {"queue": "quick", "action": "pause"}
    response = client.post(reverse("core:operations_queue"), pause, follow=True)
    assert "Paused quick: no worker takes from it (test-" in response.content.decode()

    def quick_row():
        return re.search(r"<strong>quick</strong>.*?</tr>", queues_part())[0]

    wait_until(
        lambda: "Paused" in quick_row() and "(but " not in quick_row(),
        timeout=10,
        message=f"quick still consumed:\n{quick_row()}",
    )
    # A worker that starts meanwhile leaves the paused queue alone.
    late = start_worker(queues="quick,heavy", concurrency=1, name="late")
    wait_until(lambda: queues_part().count("answered just now") == 2, timeout=10)
    assert "Paused" in quick_row() and "(but " not in quick_row()
    heavy = re.search(r"<strong>heavy</strong>.*?</tr>", queues_part())[0]
    assert "Paused" not in heavy and late.process  # The late one takes heavy.

    resume = {"queue": "quick", "action": "resume"}
    client.post(reverse("core:operations_queue"), resume)
    wait_until(lambda: "Paused" not in quick_row(), timeout=10)
    row = quick_row()
    # Given back to the worker that had it, not to the late one.
    assert "test-" in row and "late-" not in row
    actions = list(OperatorAction.objects.order_by("at", "id").values_list("action"))
    assert actions == [("paused queue",), ("resumed queue",)]


def test_an_incident_is_counted_then_replayed(
    staff_client, clock, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    user = UserFactory()
    during = [failed_email(user, f"during{n}") for n in range(3)]
    clock.shift(timedelta(hours=3))
    failed_email(user, "later")  # Outside the range: left alone.
    start = (timezone.now() - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    end = (timezone.now() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    scope = {
        "kind": "notifications.outgoingemail",
        "state": "failed",
        "start": start,
        "end": end,
    }
    url = reverse("core:operations_replay")

    dry = staff_client.get(url, scope).content.decode()
    assert "<strong>3</strong> jobs match now." in dry
    assert "Retry all 3" in dry
    assert OutgoingEmail.objects.filter(status="failed").count() == 4  # Nothing ran.

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(url, scope, follow=True)

    page = response.content.decode()
    assert "Replaying 3 jobs" in page
    assert "<strong>0</strong> jobs match now." in page  # Run inline here.
    for email in during:
        email.refresh_from_db()
        assert email.status == "succeeded" and email.attempts == 1
    assert OutgoingEmail.objects.get(idempotency_key="later").status == "failed"
    (action,) = OperatorAction.objects.all()
    assert (action.action, action.count) == ("replayed", 3)
    assert action.target.startswith("notifications.outgoingemail failed ")


def test_a_replay_range_must_make_sense(staff_client):
    url = reverse("core:operations_replay")
    page = staff_client.get(
        url,
        {
            "kind": "notifications.outgoingemail",
            "state": "succeeded",  # Not replayable.
            "start": "2026-01-02T00:00",
            "end": "2026-01-01T00:00",
        },
    ).content.decode()
    assert "Select a valid choice" in page
    page = staff_client.get(
        url,
        {
            "kind": "auth.user",
            "state": "failed",
            "start": "2026-01-02T00:00",
            "end": "2026-01-01T00:00",
        },
    ).content.decode()
    assert "Select a valid choice" in page
    assert "The range must end after it starts." in page
    assert not OperatorAction.objects.exists()


def test_the_schedule_shows_each_entry_and_runs_one_now(staff_client, monkeypatch):
    import json

    from django_celery_beat.models import (
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
    )
    from django_celery_results.models import TaskResult

    from apps.core import operations, sweeper

    monkeypatch.setattr(operations, "workers", lambda: [])
    sent = []
    monkeypatch.setattr(
        current_app, "send_task", lambda name, **kwargs: sent.append((name, kwargs))
    )
    every_5s = IntervalSchedule.objects.create(every=5, period="seconds")
    PeriodicTask.objects.create(
        name="sweep-stuck-jobs", task="apps.core.tasks.jobs_sweep", interval=every_5s
    )
    purge = PeriodicTask.objects.create(
        name="purge-old-notifications",
        task="apps.notifications.tasks.notifications_purge",
        crontab=CrontabSchedule.objects.create(hour="2", minute="30"),
        kwargs=json.dumps({}),
    )
    TaskResult.objects.create(
        task_id="r1",
        task_name="apps.notifications.tasks.notifications_purge",
        status="SUCCESS",
        result='"Deleted 3 notifications."',
    )
    page = staff_client.get(reverse("core:operations_chart")).content.decode()
    assert "The sweeper has not run yet" in page
    sweeper.jobs_sweep()

    page = staff_client.get(reverse("core:operations_chart")).content.decode()
    assert "found nothing stuck" in page
    assert "purge-old-notifications" in page and "Deleted 3 notifications." in page
    assert page.count("never") == 2  # Neither has run.
    assert "disabled" not in page

    response = staff_client.post(
        reverse("core:operations_run_now"), {"entry": purge.pk}
    )
    assert response.status_code == 302
    assert sent == [
        ("apps.notifications.tasks.notifications_purge", {"args": [], "kwargs": {}})
    ]
    assert OperatorAction.objects.get().action == "ran now"
    bad = staff_client.post(reverse("core:operations_run_now"), {"entry": "x"})
    assert bad.status_code == 400


def test_the_last_hour_counts_attempts_per_minute_and_queue_waits(
    staff_client, django_capture_on_commit_callbacks, monkeypatch, clock
):
    from datetime import timedelta

    from apps.core import operations
    from apps.core.models import JobAttempt

    monkeypatch.setattr(operations, "workers", lambda: [])
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):  # Sent inline: one succeeded attempt each.
            notifications.email_queue(owner=user, template="welcome", context={})
    assert (
        list(JobAttempt.objects.values_list("outcome", flat=True)) == ["succeeded"] * 3
    )
    waits = list(JobAttempt.objects.values_list("waited_seconds", flat=True))
    assert all(wait is not None and 0 <= wait < 5 for wait in waits)
    # One of them waited longer (the p95 and the longest show it).
    JobAttempt.objects.filter(pk__in=JobAttempt.objects.values("pk")[:1]).update(
        waited_seconds=7.5
    )

    hour = operations.last_hour()
    assert sum(minute.succeeded for minute in hour.minutes) == 3
    assert hour.minutes[-1].succeeded == 3 and hour.peak == 3
    (email,) = [t for t in hour.types if t.label == "notifications.outgoingemail"]
    assert (email.succeeded, email.retried, email.failed) == (3, 0, 0)
    assert email.wait_max == 7.5 and email.wait_p95 == 7.5
    assert email.wait_p50 < 5

    page = staff_client.get(
        reverse("core:operations_chart"), {"kind": "orders.payment"}
    ).content.decode()
    assert "3 succeeded" not in page  # Filtered to payments: none.
    page = staff_client.get(reverse("core:operations_chart")).content.decode()
    assert "3 succeeded, 0 retried, 0 failed" in page
    assert "7.50 s" in page
    # The table has a row for each type that did something, names the rest.
    assert '<td data-label="Job type">Outgoing email</td>' in page
    assert '<td data-label="Job type">Payment</td>' not in page
    assert "Nothing ended in the last hour for Announcement," in page

    clock.shift(timedelta(minutes=61))
    assert operations.last_hour().peak == 0


def test_with_the_broker_down_the_page_says_so_and_nothing_fails(
    staff_client, monkeypatch
):
    def broker_down(*args, **kwargs):
        raise OSError("Connection refused")

    monkeypatch.setattr(current_app.control, "inspect", broker_down)
    monkeypatch.setattr(current_app.control, "cancel_consumer", broker_down)
    page = staff_client.get(reverse("core:operations")).content.decode()
    assert "The broker did not answer" in page
    assert "unknown" in page
    response = staff_client.post(
        reverse("core:operations_queue"),
        {"queue": "quick", "action": "pause"},
        follow=True,
    )
    assert response.status_code == 200
    assert (
        "Could not pause quick: the broker did not answer." in response.content.decode()
    )


def test_the_sweeper_leaves_a_paused_queues_jobs_alone(
    clock, settings, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from apps.core import services as core_services
    from apps.core import sweeper
    from apps.core.models import QueuePause

    republished = []
    monkeypatch.setattr(
        core_services, "_publish", lambda *args: republished.append(args[1])
    )
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        email = notifications.email_queue(owner=user, template="welcome", context={})
    republished.clear()
    QueuePause.objects.create(queue="quick", workers=["w@h"])
    clock.shift(timedelta(seconds=settings.JOB_QUEUED_LEASE + 1))

    with django_capture_on_commit_callbacks(execute=True):
        sweeper.jobs_sweep()
    assert republished == []
    QueuePause.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=True):
        sweeper.jobs_sweep()
    assert republished == [email.pk]
