"""The notifications centre: one notify() for every app, per-kind email
preferences, announcements and digests that reach each person once, and the
housekeeping beat runs."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.core import selectors as job_selectors
from apps.core import services as jobs
from apps.core.models import JobAttempt
from apps.notifications import announcements, digests, services, tasks
from apps.notifications.kinds import KINDS
from apps.notifications.models import (
    Announcement,
    AnnouncementChunk,
    Notification,
    OutgoingEmail,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def notify(user, kind, key="k1", **extra):
    return services.notify(
        owner=user,
        kind=kind,
        message="Your import of orders.csv is done.",
        url="/orders/imports/1/",
        idempotency_key=key,
        **extra,
    )


# One service, preferences respected


def test_a_kind_emailed_by_default_stores_one_notification_and_one_email(user):
    for _ in range(2):  # A redelivered task.
        notify(user, "import_done")

    assert Notification.objects.filter(owner=user).count() == 1
    (email,) = OutgoingEmail.objects.filter(owner=user)
    assert email.template == "notification"
    assert email.subject == "Your import of orders.csv is done."
    assert "http://127.0.0.1:8000/orders/imports/1/" in email.body_text
    assert reverse("notifications:settings") in email.body_text


def test_a_kind_not_emailed_by_default_is_only_a_notification(user):
    notify(user, "images_done")
    assert Notification.objects.filter(owner=user).count() == 1
    assert not OutgoingEmail.objects.exists()


def test_the_users_choice_overrides_the_defaults(user):
    services.preferences_save(owner=user, email_kinds=["images_done"], digest=False)

    notify(user, "images_done", key="a")
    notify(user, "import_done", key="b")

    assert [e.idempotency_key for e in OutgoingEmail.objects.all()] == [
        "notification:a"
    ]


def test_an_apps_own_email_is_sent_in_place_of_the_plain_one(user):
    notify(user, "report_failed", email=("notification", {"extra": 1}))
    notify(
        user,
        "report_ready",
        key="k2",
        email=("signup_attempt", {"login_url": "/l", "reset_url": "/r"}),
    )
    assert sorted(OutgoingEmail.objects.values_list("template", flat=True)) == [
        "notification",
        "signup_attempt",
    ]


def test_every_kind_has_a_label_and_the_settings_page_offers_each(client, user):
    client.force_login(user)
    page = client.get(reverse("notifications:settings")).content.decode()
    for kind in KINDS.values():
        assert kind.label in page


def test_the_settings_page_saves_the_choices(client, user):
    client.force_login(user)
    response = client.post(
        reverse("notifications:settings"),
        {"email_kinds": ["payment_failed", "announcement"], "digest": "on"},
    )
    assert response.status_code == 302
    saved = services.preferences_of(user)
    assert saved.email_kinds == ["payment_failed", "announcement"]
    assert saved.digest is True
    page = client.get(reverse("notifications:settings")).content.decode()
    assert "Your notification settings are saved." in page
    assert page.count("checked") == 3


def test_an_unknown_kind_in_the_form_is_refused(client, user):
    client.force_login(user)
    response = client.post(
        reverse("notifications:settings"), {"email_kinds": ["sql; drop"]}
    )
    assert response.status_code == 200
    assert "is not one of the available choices" in response.content.decode()


# Bulk mail goes to its own task and queue


def test_bulk_emails_go_to_their_own_rate_limited_task_and_queue(settings, user):
    from config.celery import app

    welcome = OutgoingEmail(template="welcome")
    assert welcome.row_task_name() == "apps.notifications.tasks.email_send"
    for template in ("announcement", "digest"):
        bulk = OutgoingEmail(template=template)
        assert bulk.row_task_name() == "apps.notifications.tasks.email_send_bulk"
    route = app.amqp.router.route({}, "apps.notifications.tasks.email_send_bulk")
    assert route["queue"].name == "bulk"
    route = app.amqp.router.route({}, "apps.notifications.tasks.email_send")
    assert route["queue"].name == "quick"
    assert tasks.email_send_bulk.rate_limit == settings.EMAIL_BULK_RATE_LIMIT
    assert tasks.email_send.rate_limit is None
    assert job_selectors.job_task(OutgoingEmail, bulk.row_task_name()) is (
        tasks.email_send_bulk
    )


# Announcements


def users(count, **fields):
    return UserFactory.create_batch(count, **fields)


def announce(staff, capture, audience="everyone"):
    with capture(execute=True):
        return announcements.announcement_create(
            owner=staff, subject="Maintenance", body="Sunday 2-3 am.", audience=audience
        )


def test_an_announcement_reaches_each_person_once_however_often_its_parts_run(
    settings, django_capture_on_commit_callbacks
):
    settings.ANNOUNCEMENT_CHUNK_SIZE = 2
    staff = UserFactory(is_staff=True)
    people = [staff, *users(4)]
    services.preferences_save(owner=people[1], email_kinds=[], digest=False)

    announcement = announce(staff, django_capture_on_commit_callbacks)
    # Every message delivered again: each job is done, nothing runs.
    tasks.announcement_send(announcement.pk)
    for chunk in AnnouncementChunk.objects.all():
        tasks.announcement_chunk_deliver(chunk.pk)
    # The fan-out run again (its worker died after making the chunks, before
    # recording its end): the chunks are the job kit's already.
    Announcement.objects.filter(pk=announcement.pk).update(status="queued")
    with django_capture_on_commit_callbacks(execute=True):
        tasks.announcement_send(announcement.pk)
    announcement.refresh_from_db()

    assert (announcement.status, announcement.attempts) == ("succeeded", 2)
    assert (announcement.recipients, announcement.chunks) == (5, 3)
    assert announcement.delivered_at is not None
    chunks = AnnouncementChunk.objects.order_by("number")
    assert list(chunks.values_list("status", "delivered")) == [
        ("succeeded", 2),
        ("succeeded", 2),
        ("succeeded", 1),
    ]
    for person in people:
        told = Notification.objects.get(owner=person, kind="announcement")
        assert told.url == f"/announcements/{announcement.pk}/"
    emailed = set(
        OutgoingEmail.objects.filter(template="announcement").values_list(
            "owner", flat=True
        )
    )
    assert emailed == {p.pk for p in people} - {people[1].pk}  # Opted out.
    (shown,) = announcements.announcements_with_delivery([announcement])
    assert (shown.delivered, shown.delivering, shown.failed_chunks) == (5, False, 0)


def test_chunks_never_published_are_delivered_by_the_sweeper(
    settings, django_capture_on_commit_callbacks, monkeypatch, clock
):
    from apps.core import services as core_services
    from apps.core import sweeper

    settings.ANNOUNCEMENT_CHUNK_SIZE = 2
    staff = UserFactory(is_staff=True)
    users(2)

    def broker_down(*args, **kwargs):
        raise OSError("connection refused")

    # The broker goes down between the fan-out and its chunks' publish.
    monkeypatch.setattr(core_services, "chord", broker_down)
    announcement = announce(staff, django_capture_on_commit_callbacks)
    assert set(AnnouncementChunk.objects.values_list("status", flat=True)) == {"queued"}
    (shown,) = announcements.announcements_with_delivery([announcement])
    assert shown.delivering and shown.delivered == 0
    assert not Notification.objects.filter(kind="announcement").exists()

    monkeypatch.undo()
    clock.shift(timedelta(seconds=settings.JOB_QUEUED_LEASE + 1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.jobs_sweep() == 2

    assert Notification.objects.filter(kind="announcement").count() == 3
    announcement.refresh_from_db()
    assert announcement.delivered_at is not None  # The chained check.


def test_bulk_emails_waiting_behind_the_rate_limit_are_not_swept_early(
    user, settings, clock, django_capture_on_commit_callbacks, monkeypatch
):
    from apps.core import services as core_services
    from apps.core import sweeper

    republished = []
    monkeypatch.setattr(
        core_services, "_publish", lambda *args: republished.append(args[1])
    )
    with django_capture_on_commit_callbacks(execute=True):
        bulk = services.email_queue(
            owner=user,
            template="announcement",
            context={"announcement": Announcement(subject="s", body="b")},
        )
        welcome = services.email_queue(owner=user, template="welcome", context={})
    republished.clear()

    clock.shift(timedelta(seconds=settings.JOB_QUEUED_LEASE + 1))
    with django_capture_on_commit_callbacks(execute=True):
        sweeper.jobs_sweep()
    assert republished == [welcome.pk]  # Lost, perhaps; the bulk one waits.

    clock.shift(timedelta(seconds=settings.EMAIL_BULK_QUEUED_LEASE))
    with django_capture_on_commit_callbacks(execute=True):
        sweeper.jobs_sweep()
    assert bulk.pk in republished


def test_an_announcement_goes_only_to_its_audience(settings):
    staff = UserFactory(is_staff=True)
    UserFactory(email_verified_at=None)
    verified = UserFactory(email_verified_at=timezone.now())
    UserFactory(is_active=False)
    old = UserFactory(date_joined=timezone.now() - timedelta(days=60))

    def audience(name):
        return set(announcements.audience_of(name))

    assert audience("staff") == {staff}
    assert verified in audience("verified") and old not in audience("recent")
    assert len(audience("everyone")) == 4  # Not the deactivated account.


def test_the_announcement_page_is_staff_only_and_sends(
    client, user, django_capture_on_commit_callbacks
):
    url = reverse("notifications:announcements")
    client.force_login(user)
    assert client.get(url).status_code == 404
    assert client.post(url, {"subject": "x"}).status_code == 404
    table_url = reverse("notifications:announcement_table")
    assert client.get(table_url).status_code == 404
    assert client.post(table_url).status_code == 404  # Not even a 405.

    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    page = client.get(url).content.decode()
    assert "Everyone (2)" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url,
            {"subject": "  New\nfeature ", "body": "Reports!", "audience": "everyone"},
        )
    assert response.status_code == 302
    assert Notification.objects.filter(kind="announcement").count() == 2
    table = client.get(reverse("notifications:announcement_table")).content.decode()
    assert "New feature" in table and "2 of 2" in table
    assert "hx-trigger" not in table  # Delivered: the table stops asking.

    # Each person reads it in full; someone it was not sent to cannot.
    announcement = Announcement.objects.get()
    client.force_login(user)
    page = client.get(f"/announcements/{announcement.pk}/").content.decode()
    assert "Reports!" in page
    client.force_login(UserFactory())
    assert client.get(f"/announcements/{announcement.pk}/").status_code == 404


# Digests


def test_a_digest_goes_once_a_day_to_those_who_asked_with_something_unread(
    settings, django_capture_on_commit_callbacks, clock
):
    settings.DIGEST_CHUNK_SIZE = 1
    keen, all_read, not_asked = users(3)
    # Keen gets import notifications by email one by one too.
    services.preferences_save(owner=keen, email_kinds=["import_done"], digest=True)
    services.preferences_save(owner=all_read, email_kinds=[], digest=True)
    for person in (keen, all_read, not_asked):
        notify(person, "images_done", key=f"n{person.pk}")
    services.notifications_mark_read(owner=all_read)

    day = date(2026, 11, 30)
    for _ in range(2):  # Beat twice for the same day, or a redelivery.
        with django_capture_on_commit_callbacks(execute=True):
            digests.digests_send(day=day)
        digests.digest_deliver(day=day, user_ids=[keen.pk])

    (digest,) = OutgoingEmail.objects.filter(template="digest")
    assert digest.owner == keen
    assert digest.idempotency_key == f"digest:{keen.pk}:2026-11-30"
    assert digest.subject == "1 unread notification"
    assert "Your import of orders.csv is done." in digest.body_text
    assert digest.row_task_name() == "apps.notifications.tasks.email_send_bulk"

    # The next day: only what is new since, and nothing that was emailed
    # one by one already.
    clock.shift(timedelta(days=1, minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert digests.digests_send(day=day + timedelta(days=1)) == (
            "Digests for 2026-12-01: 0 people, 0 chunks."
        )
        notify(keen, "import_done", key="emailed-anyway")
        notify(keen, "images_done", key="new")
        summary = digests.digests_send(day=day + timedelta(days=1))
    assert summary == "Digests for 2026-12-01: 1 person, 1 chunk."
    second = OutgoingEmail.objects.filter(template="digest").latest("pk")
    assert second.subject == "1 unread notification"


# The bell, opening and reading


def test_the_bell_answers_204_until_the_count_changes(client, user):
    client.force_login(user)
    bell = reverse("notifications:bell")
    assert client.get(bell, {"count": "0"}).status_code == 204
    notify(user, "images_done")
    response = client.get(bell, {"count": "0"})
    assert response.status_code == 200
    assert 'aria-label="1 unread"' in response.content.decode()
    assert "count=1" in response.content.decode()  # It asks with the new count.
    assert client.get(bell, {"count": "1"}).status_code == 204


def test_opening_a_notification_marks_it_read_and_goes_to_its_object(client, user):
    notification = notify(user, "images_done")
    client.force_login(user)
    response = client.get(reverse("notifications:open", args=[notification.pk]))
    assert response["Location"] == "/orders/imports/1/"
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_notification_never_sends_its_reader_off_site(client, user):
    notification = services.notify(
        owner=user,
        kind="k",
        message="m",
        url="https://evil.example/",
        idempotency_key="evil",
    )
    client.force_login(user)
    response = client.get(reverse("notifications:open", args=[notification.pk]))
    assert response["Location"] == reverse("notifications:list")


def test_one_notification_is_marked_read_and_not_another_persons(client, user):
    first = notify(user, "images_done", key="a")
    second = notify(user, "images_done", key="b")
    theirs = notify(UserFactory(), "images_done", key="c")
    client.force_login(user)
    read = reverse("notifications:read")

    client.post(read, {"pk": first.pk, "next": "https://evil.example/"})
    client.post(read, {"pk": theirs.pk})

    assert set(Notification.objects.filter(read_at=None)) == {second, theirs}
    other = reverse("notifications:open", args=[theirs.pk])
    assert client.get(other).status_code == 404


# Housekeeping


def test_old_notifications_and_attempts_are_purged_and_twice_is_harmless(
    clock, user, settings
):
    notify(user, "images_done", key="old")
    email = services.email_queue(owner=user, template="welcome", context={})
    jobs.job_start(email, task_id=email.task_id)
    jobs.job_succeed(email)
    clock.shift(timedelta(days=91))
    notify(user, "images_done", key="new")

    assert services.notifications_purge() == "Deleted 1 notification."
    assert services.notifications_purge() == "Deleted 0 notifications."
    assert list(Notification.objects.values_list("idempotency_key", flat=True)) == [
        "new"
    ]
    assert jobs.job_attempts_trim() == "Deleted 1 attempt."
    assert jobs.job_attempts_trim() == "Deleted 0 attempts."
    assert not JobAttempt.objects.exists()
    assert OutgoingEmail.objects.filter(pk=email.pk).exists()  # The job stays.


def test_every_beat_entry_names_a_task_and_says_when_it_runs(settings):
    from pathlib import Path

    from config.celery import app

    app.loader.import_default_modules()
    source = Path(settings.BASE_DIR, "config", "settings.py").read_text()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, name
        # The comment under the entry's name says when, in words.
        after = source.split(f'"{name}": {{', 1)[1].lstrip()
        assert after.startswith("#"), f"{name} has no comment"


def test_the_admin_shows_each_beat_entry_with_what_its_last_run_did(client):
    from django_celery_beat.models import CrontabSchedule, PeriodicTask
    from django_celery_results.models import TaskResult

    every_day = CrontabSchedule.objects.create(hour="2", minute="30")
    PeriodicTask.objects.create(
        name="purge-old-notifications",
        task="apps.notifications.tasks.notifications_purge",
        crontab=every_day,
    )
    PeriodicTask.objects.create(
        name="trim-job-history",
        task="apps.core.tasks.job_attempts_trim",
        crontab=every_day,
    )
    TaskResult.objects.create(
        task_id="t1",
        task_name="apps.notifications.tasks.notifications_purge",
        status="SUCCESS",
        result='"Deleted 3 notifications."',
    )
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    page = client.get("/admin/django_celery_beat/periodictask/").content.decode()

    assert "What the last run did" in page
    assert "Deleted 3 notifications." in page
    assert page.count("—") >= 1  # The trim has not run yet.
    edit = PeriodicTask.objects.get(name="trim-job-history")
    assert (
        client.get(
            f"/admin/django_celery_beat/periodictask/{edit.pk}/change/"
        ).status_code
        == 200
    )


def test_a_periodic_tasks_result_is_kept_for_the_admin():
    assert tasks.notifications_purge.ignore_result is False
    assert tasks.digests_send.ignore_result is False


@pytest.mark.parametrize("pk", ["1.0", "-1", " 1", "x", ""])
def test_a_malformed_id_marks_nothing_read(client, user, pk):
    notify(user, "images_done")
    client.force_login(user)
    response = client.post(reverse("notifications:read"), {"pk": pk})
    assert response.status_code == 400
    assert Notification.objects.filter(read_at=None).count() == 1


def test_bulk_mail_carries_a_one_click_unsubscribe_that_works(
    client, user, django_capture_on_commit_callbacks
):
    from django.core import mail

    services.preferences_save(owner=user, email_kinds=["announcement"], digest=True)
    with django_capture_on_commit_callbacks(execute=True):
        services.email_queue(
            owner=user,
            template="announcement",
            context={"announcement": Announcement(subject="New", body="b")},
        )
        services.email_queue(owner=user, template="welcome", context={})
    bulk, welcome = mail.outbox
    assert "List-Unsubscribe" not in welcome.extra_headers
    assert bulk.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = bulk.extra_headers["List-Unsubscribe"].strip("<>")
    path = url.removeprefix("http://127.0.0.1:8000")

    # A person who follows the link is asked first (and need not log in).
    page = client.get(path).content.decode()
    assert "Stop announcements by email?" in page
    assert services.preferences_of(user).email_kinds == ["announcement"]
    # The mail provider's one click: a POST without any CSRF token.
    csrf_client = type(client)(enforce_csrf_checks=True)
    response = csrf_client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    preferences = services.preferences_of(user)
    assert preferences.email_kinds == [] and preferences.digest is True

    digest_path = reverse(
        "notifications:unsubscribe", args=[services.unsubscribe_token(user, "digest")]
    )
    client.post(digest_path)
    assert services.preferences_of(user).digest is False
    forged = path[:-3] + "xx/"
    assert client.get(forged).status_code == 404
