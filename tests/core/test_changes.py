"""
The change feed (apps.core.changes): PostgreSQL's triggers say which jobs
changed, a thread of each web process hears them, and a status poll for a
job it heard nothing of asks the database nothing. Notifications are sent
on commit, so these tests commit (transaction=True).
"""

import re
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from apps.core import changes, status
from tests.jobkit.models import SampleJob
from tests.processes import wait_until

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"
    ),
]

TABLE = SampleJob._meta.db_table
# What pre_migrate is given for a migrate with work for the app of SampleJob.
JOBKIT_MIGRATION = [(SimpleNamespace(app_label="jobkit"), False)]


@pytest.fixture
def feed(monkeypatch):
    """This process's feed, listening: the one gunicorn's workers start."""
    # A margin for the clocks of two hosts; here there is one clock.
    monkeypatch.setattr(changes, "CLOCK_MARGIN", 0.1)
    monkeypatch.setattr(changes, "PING_SECONDS", 0.2)  # Stops sooner.
    listening = changes.Feed()
    monkeypatch.setattr(changes, "feed", listening)
    listening.start()
    wait_until(lambda: listening.listening_since is not None, timeout=10)
    # Listening from before the jobs below are read (the versions of their
    # boxes say when to the second, rounded down).
    time.sleep(1.2)
    yield listening
    listening.stop()


def heard_of(feed, job) -> bool:
    return (TABLE, job.pk) in feed._heard


def test_what_a_box_shows_is_heard_of_when_it_changes_and_nothing_else_is(feed, user):
    quiet, changed, deleted = (SampleJob.objects.create(owner=user) for _ in range(3))
    SampleJob.objects.filter(pk=quiet.pk).update(
        heartbeat_at=timezone.now(), lease_expires_at=timezone.now()
    )
    SampleJob.objects.filter(pk=changed.pk).update(progress=40, stage="Halfway")
    SampleJob.objects.filter(pk=deleted.pk).delete()
    # Heard in the order they were committed: the last one heard, all were.
    wait_until(lambda: heard_of(feed, deleted), timeout=10)
    assert heard_of(feed, changed)
    assert not heard_of(feed, quiet)  # A lease renewed shows nothing new.


def draw(client, job) -> str:
    """The URL of the poll of the job's box, drawn as its page draws it."""
    url = reverse("core:job_status", args=["jobkit.samplejob", job.pk])
    html = client.get(url).content.decode()
    return re.search(r'hx-get="([^"]+)"', html).group(1).replace("&amp;", "&")


def test_a_poll_for_a_job_nobody_changed_asks_the_database_nothing(
    feed, client, user, django_assert_num_queries
):
    client.force_login(user)
    job = SampleJob.objects.create(owner=user)
    poll_url = draw(client, job)
    with django_assert_num_queries(0):
        response = client.get(poll_url, headers={"HX-Request": "true"})
    assert response.status_code == 204

    SampleJob.objects.filter(pk=job.pk).update(progress=40, stage="Halfway")
    wait_until(lambda: heard_of(feed, job), timeout=10)
    response = client.get(poll_url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "Halfway" in response.content.decode()


def test_a_deleted_job_is_said_to_be_gone(feed, client, user):
    client.force_login(user)
    job = SampleJob.objects.create(owner=user)
    poll_url = draw(client, job)
    SampleJob.objects.filter(pk=job.pk).delete()
    wait_until(lambda: heard_of(feed, job), timeout=10)
    assert client.get(poll_url, headers={"HX-Request": "true"}).status_code == 286


def test_a_box_the_clock_will_change_is_vouched_for_only_until_then(
    feed, client, user, django_assert_num_queries
):
    client.force_login(user)
    job = SampleJob.objects.create(
        owner=user,
        status=SampleJob.Status.RUNNING,
        started_at=timezone.now(),
        lease_expires_at=timezone.now() + timedelta(seconds=3),
    )
    poll_url = draw(client, job)
    with django_assert_num_queries(0):
        assert client.get(poll_url, headers={"HX-Request": "true"}).status_code == 204
    # The lease lapses with no write: the box must now say the worker is lost.
    wait_until(
        lambda: timezone.now() > job.lease_expires_at + timedelta(seconds=1),
        timeout=10,
    )
    response = client.get(poll_url, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "stopped answering" in response.content.decode()


def test_a_retry_counting_down_is_never_vouched_for(feed, user):
    job = SampleJob.objects.create(
        owner=user,
        status=SampleJob.Status.RETRYING,
        next_retry_at=timezone.now() + timedelta(minutes=1),
    )
    job = SampleJob.objects.get(pk=job.pk)  # As a page loads it.
    assert status.box_version(job, "a-session").isalnum()  # No window.


def test_a_trigger_disabled_by_hand_stops_the_feed_vouching(
    feed, client, user, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(changes, "TRUSTED_SECONDS", 0.5)
    client.force_login(user)
    job = SampleJob.objects.create(owner=user)
    poll_url = draw(client, job)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER box_changed")
    try:
        # Its pings no longer count: changes here would not be said.
        time.sleep(changes.PING_SECONDS + 0.6)
        with django_assert_num_queries(1):  # The job's row, read again.
            response = client.get(poll_url, headers={"HX-Request": "true"})
        assert response.status_code == 204
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER box_changed")


def test_triggers_written_again_are_a_gap_in_what_was_heard(feed, user):
    # As a migrate does: what was committed between the drop and the new
    # trigger was never said, so jobs read before are vouched for no more.
    read_before = SampleJob.objects.get(pk=SampleJob.objects.create(owner=user).pk)
    assert feed.unchanged_since(TABLE, read_before.pk, read_before.loaded_at)
    changes.drop_triggers(plan=JOBKIT_MIGRATION)
    changes.install_triggers()
    wait_until(
        lambda: not feed.unchanged_since(TABLE, read_before.pk, read_before.loaded_at),
        timeout=10,
    )
    time.sleep(1.2)  # Boxes drawn from here on say so to the second.
    read_after = SampleJob.objects.get(pk=read_before.pk)
    wait_until(
        lambda: feed.unchanged_since(TABLE, read_after.pk, read_after.loaded_at),
        timeout=10,
    )


def test_a_job_read_before_the_feed_listened_is_not_vouched_for(
    feed, client, user, django_assert_num_queries
):
    client.force_login(user)
    job = SampleJob.objects.create(owner=user)
    poll_url = draw(client, job)
    feed.listening_since = time.time()  # Say it reconnected since.
    with django_assert_num_queries(1):
        assert client.get(poll_url, headers={"HX-Request": "true"}).status_code == 204


def test_the_listener_says_who_it_is_and_comes_back_after_its_connection_dies(
    feed,
):
    def listeners():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                " AND datname = current_database()",
                [changes.CHANNEL],
            )
            return [pid for (pid,) in cursor.fetchall()]

    (first,) = listeners()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [first])
    wait_until(lambda: listeners() not in ([], [first]), timeout=10)
    wait_until(lambda: feed.listening_since is not None, timeout=10)


def expected_triggers() -> dict:
    return changes._expected_triggers(connection.ops.quote_name)


def trigger_versions():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.oid, t.xmin::text FROM pg_trigger t"
            " WHERE t.tgname IN ('box_changed', 'job_deleted') ORDER BY 1"
        )
        return cursor.fetchall()


def test_a_migrate_with_nothing_to_do_writes_no_trigger():
    before = trigger_versions()
    assert len(before) == len(expected_triggers())
    changes.drop_triggers(plan=[])
    changes.install_triggers()
    assert trigger_versions() == before


def test_a_migrate_may_change_the_type_of_a_column_the_trigger_names():
    alter = f"ALTER TABLE {TABLE} ALTER COLUMN stage TYPE varchar(%s)"
    with (
        pytest.raises(Exception, match="used in a trigger definition"),
        connection.cursor() as cursor,
    ):
        cursor.execute(alter % 300)
    changes.drop_triggers(plan=JOBKIT_MIGRATION)  # As pre_migrate does.
    try:
        with connection.cursor() as cursor:
            cursor.execute(alter % 300)
            cursor.execute(alter % 200)
    finally:
        changes.install_triggers()
    assert len(trigger_versions()) == len(
        changes._expected_triggers(connection.ops.quote_name)
    )


def test_switched_off_there_are_no_triggers_and_no_feed(settings):
    settings.JOB_CHANGE_FEED = False
    try:
        changes.install_triggers()
        assert trigger_versions() == []
        off = changes.Feed()
        off.start()
        assert off._thread is None
    finally:
        settings.JOB_CHANGE_FEED = True
        changes.install_triggers()


def test_a_flood_of_changes_is_forgotten_at_once(monkeypatch):
    monkeypatch.setattr(changes, "REMEMBER_AT_MOST", 3)
    flooded = changes.Feed()
    flooded.listening_since = 0.0
    for pk in range(1, 5):
        flooded.heard(f"{TABLE}:{pk}")
    assert list(flooded._heard) == [(TABLE, 4)]
    assert flooded.listening_since > time.time() - 5  # Vouches afresh.


def test_a_migrate_is_heard_as_it_takes_the_triggers_away(feed, user, monkeypatch):
    # Not at the next ping: writes that miss the trigger may follow at once.
    read = SampleJob.objects.get(pk=SampleJob.objects.create(owner=user).pk)
    time.sleep(0.5)
    monkeypatch.setattr(changes, "PING_SECONDS", 3.0)
    time.sleep(0.5)  # The listener now waits 3 s between pings.
    assert feed.unchanged_since(TABLE, read.pk, read.loaded_at)
    changes.drop_triggers(plan=JOBKIT_MIGRATION)
    try:
        wait_until(lambda: feed.confirmed_at == 0.0, timeout=0.5)
        assert not feed.unchanged_since(TABLE, read.pk, read.loaded_at)
    finally:
        changes.install_triggers()


@pytest.mark.parametrize(
    "change",
    [
        # Fires only in replication sessions: not for the app's writes.
        f"ALTER TABLE {TABLE} ENABLE REPLICA TRIGGER box_changed",
        # Watches other columns than this release's boxes are drawn from
        # (a release deployed before its migrate, or after the next one).
        f"COMMENT ON TRIGGER box_changed ON {TABLE} IS 'columns: \"id\"'",
    ],
    ids=["replica only", "other columns"],
)
def test_a_trigger_not_as_this_release_expects_is_not_trusted_until_migrate(
    feed, user, change
):
    read = SampleJob.objects.get(pk=SampleJob.objects.create(owner=user).pk)
    with connection.cursor() as cursor:
        cursor.execute(change)
    wait_until(lambda: feed.confirmed_at == 0.0, timeout=5)
    assert not feed.unchanged_since(TABLE, read.pk, read.loaded_at)
    changes.install_triggers()  # As the next migrate does.
    read = SampleJob.objects.get(pk=read.pk)
    time.sleep(1.2)
    wait_until(lambda: feed.unchanged_since(TABLE, read.pk, time.time()), timeout=5)
