"""The Celery configuration of ARCHITECTURE.md, and the check that guards it."""

import subprocess
import sys

import pytest
from celery import Celery
from django.conf import settings
from django.core.management import call_command

from apps.core.checks import celery_limit_errors
from config.celery import app
from tests.processes import BASE_DIR


def test_messages_are_json_only():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"


def test_tasks_are_acknowledged_late_one_at_a_time():
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_reject_on_worker_lost is True


def test_results_go_to_the_database_and_beat_uses_the_database_scheduler():
    assert app.conf.result_backend == "django-db"
    assert app.conf.result_extended is True
    assert app.conf.beat_scheduler == (
        "django_celery_beat.schedulers:DatabaseScheduler"
    )
    assert app.conf.result_expires == 7 * 86400


# The scheduler closes the connection, as beat does between syncs.
@pytest.mark.django_db(transaction=True)
def test_beat_schedules_the_settings_entries_and_a_daily_result_cleanup():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=app, lazy=False)  # What `celery beat` does at start.
    tasks = dict(PeriodicTask.objects.values_list("name", "task"))
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert tasks[name] == entry["task"]
    cleanup = PeriodicTask.objects.get(task="celery.backend_cleanup")
    assert (cleanup.crontab.hour, cleanup.crontab.minute) == ("4", "0")


@pytest.mark.parametrize(
    ("task_name", "queue"),
    [
        ("apps.notifications.tasks.email_send", "quick"),
        ("apps.core.tasks.jobs_sweep", "quick"),
        ("apps.orders.tasks.payment_process", "critical"),
        ("apps.orders.tasks.orders_import", "heavy"),
        ("apps.reports.tasks.report_generate", "heavy"),
        ("apps.uploads.tasks.image_thumbnails", "heavy"),
    ],
)
def test_tasks_are_routed_to_their_queue(task_name, queue):
    route = app.amqp.router.route({}, task_name)
    assert route["queue"].name == queue
    assert queue in [q.name for q in settings.CELERY_TASK_QUEUES]


def test_a_worker_without_queue_options_consumes_every_queue():
    assert {q.name for q in app.amqp.queues.values()} == {
        "quick",
        "heavy",
        "critical",
        "bulk",
    }


def test_every_beat_entry_names_a_registered_task():
    call_command("check")  # Imports every tasks.py, as a worker does.
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks


def test_project_tasks_respect_the_visibility_timeout():
    assert celery_limit_errors(app) == []


def noop():
    pass


def make_app(visibility_timeout=100):
    test_app = Celery("limits-test", set_as_current=False)
    test_app.conf.update(
        broker_transport_options={"visibility_timeout": visibility_timeout},
        task_time_limit=50,
        task_soft_time_limit=40,
    )
    return test_app


def error_ids(test_app):
    return [error.id for error in celery_limit_errors(test_app)]


def test_hard_limit_above_the_visibility_timeout_is_an_error():
    test_app = make_app()
    test_app.task(name="slow", time_limit=200, soft_time_limit=150)(noop)
    assert "core.E003" in error_ids(test_app)


def test_soft_limit_not_below_the_hard_limit_is_an_error():
    test_app = make_app()
    test_app.task(name="odd", time_limit=30, soft_time_limit=30)(noop)
    assert "core.E002" in error_ids(test_app)


def test_task_without_limits_is_an_error():
    test_app = make_app()
    test_app.conf.task_time_limit = None
    test_app.task(name="unbounded")(noop)
    assert "core.E001" in error_ids(test_app)


def test_retry_backoff_reaching_the_visibility_timeout_is_an_error():
    test_app = make_app()
    test_app.task(
        name="flaky",
        autoretry_for=(OSError,),
        retry_backoff=True,
        retry_backoff_max=500,
    )(noop)
    assert "core.E004" in error_ids(test_app)


def test_worker_refuses_to_start_with_a_visibility_timeout_below_a_hard_limit():
    # Tasks have 25 s hard limits: a 20 s visibility timeout would let Redis
    # hand a running task to a second worker.
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=ERROR"],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "CELERY_BROKER_VISIBILITY_TIMEOUT": "20"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "not below the broker's visibility timeout 20s" in result.stderr


def test_each_queue_is_declared_with_its_own_exchange_and_routing_key():
    declared = {
        queue.name: (queue.exchange.name, queue.exchange.type, queue.routing_key)
        for queue in app.amqp.queues.values()
    }
    assert declared == {
        name: (name, "direct", name) for name in ("quick", "heavy", "critical", "bulk")
    }
    route = app.amqp.router.route({}, "apps.orders.tasks.payment_process")
    assert (route["queue"].exchange.name, route["queue"].routing_key) == (
        "critical",
        "critical",
    )


def test_the_broker_binds_each_queue_to_its_own_exchange(redis_server):
    """What a worker declares at start, read back from Redis's binding table."""
    from kombu import Connection

    with Connection(redis_server.url) as connection:
        channel = connection.default_channel
        # The queues as Celery hands them to a worker, its defaults applied.
        for queue in app.amqp.queues.values():
            queue(channel).declare()
        bindings = {
            name: {
                raw.decode()
                for raw in channel.client.smembers(f"_kombu.binding.{name}")
            }
            for name in ("quick", "heavy", "critical", "bulk")
        }
    # kombu stores each binding as "routing_key\x06\x16pattern\x06\x16queue".
    separator = "\x06\x16"
    assert bindings == {
        name: {separator.join([name, "", name])}
        for name in ("quick", "heavy", "critical", "bulk")
    }


def test_broker_url_picks_another_broker_than_redis():
    import subprocess
    import sys

    from tests.processes import BASE_DIR

    def broker(**env):
        code = (
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.CELERY_BROKER_URL)"
        )
        environ = {
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=BASE_DIR,
            env=environ,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    rabbit = "amqp://guest:guest@127.0.0.1:5672/jobs"
    assert broker(BROKER_URL=rabbit, REDIS_URL="redis://127.0.0.1:1/0") == rabbit
    assert broker(REDIS_URL="redis://127.0.0.1:1/0") == "redis://127.0.0.1:1/0"
