"""
docker-compose.yml's services: their commands, healthchecks, backing services
and shutdown, checked against the settings and the Celery app they run.

There is no Docker engine here, so these tests read the file; the commands
themselves run as real processes in test_web_command.py,
test_worker_and_beat_commands.py and test_redis_command.py.
"""

import re

import pytest
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from config.celery import app as celery_app
from tests.config.compose import APP_SERVICES, interpolate, option, seconds

COMPOSE_SERVICES = {"web", "worker", "beat", "redis", "db", "mailpit", "migrate"}
# Started only with their profile (`docker compose --profile flower up`).
PROFILE_SERVICES = {"flower": ["flower"], "worker-heavy": ["heavy"]}


# Services and commands


def test_compose_defines_the_six_services_and_the_migrate_job(services):
    always = {name for name, service in services.items() if "profiles" not in service}
    assert always == COMPOSE_SERVICES
    assert {
        name: service["profiles"]
        for name, service in services.items()
        if "profiles" in service
    } == PROFILE_SERVICES


def test_workers_scale_out_and_one_may_take_heavy_work_alone(services):
    # `--scale worker=3` needs nothing that only one container can hold.
    for name in ("worker", "worker-heavy"):
        assert "container_name" not in services[name]
        assert "ports" not in services[name]
    heavy = services["worker-heavy"]
    assert option(heavy["command"], "--queues") == "heavy"
    node = option(heavy["command"], "--hostname").split("@")[0]
    assert f"--destination {node}@$$HOSTNAME" in heavy["healthcheck"]["test"][1]
    from apps.reports.models import Report

    assert seconds(heavy["stop_grace_period"]) > Report.time_limit


def test_flower_is_behind_basic_auth_from_env_and_on_localhost(services):
    from tests.config.compose import documented_variables

    flower = services["flower"]
    command = flower["command"]
    assert command[:4] == ["celery", "-A", "config", "flower"]
    assert option(command, "--port") == "5555"
    # No default: compose refuses to start it without both.
    assert option(command, "--basic-auth") == (
        "${FLOWER_USER:?set FLOWER_USER in .env}:"
        "${FLOWER_PASSWORD:?set FLOWER_PASSWORD in .env}"
    )
    assert {"FLOWER_USER", "FLOWER_PASSWORD"} <= documented_variables()
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    assert flower["image"] == services["worker"]["image"]


def test_web_runs_gunicorn_on_port_8000(services):
    command = services["web"]["command"]
    assert command[:2] == ["gunicorn", "config.wsgi:application"]
    assert option(command, "--bind") == "0.0.0.0:8000"
    assert int(option(command, "--workers")) >= 2
    assert 10 <= int(option(command, "--timeout")) <= 120


def test_web_port_is_published_on_localhost_only(services):
    # The placeholder SECRET_KEY is public: nobody else on the network may reach
    # an app signed with it.
    assert services["web"]["ports"] == ["127.0.0.1:8000:8000"]


def test_worker_consumes_exactly_the_queues_the_settings_name(services):
    command = services["worker"]["command"]
    assert command == [
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel=INFO",
        "--queues=quick,heavy,critical,bulk",
    ]
    queues = option(command, "--queues").split(",")
    assert queues == [queue.name for queue in settings.CELERY_TASK_QUEUES]


def test_worker_queues_cover_every_routed_queue(services):
    queues = set(option(services["worker"]["command"], "--queues").split(","))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= queues


def test_beat_runs_the_database_scheduler_from_the_settings(services):
    assert services["beat"]["command"] == [
        "celery",
        "-A",
        "config",
        "beat",
        "--loglevel=INFO",
    ]
    # No --scheduler flag: beat takes it from the settings.
    assert settings.CELERY_BEAT_SCHEDULER == (
        "django_celery_beat.schedulers:DatabaseScheduler"
    )


def test_beat_never_runs_more_than_one_replica(services):
    beat = services["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert beat.get("scale", 1) == 1


def test_migrate_job_runs_migrations_once_without_restarting(services):
    migrate = services["migrate"]
    assert migrate["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert migrate["image"] == services["web"]["image"]
    # Restarting a finished one-shot job would run it forever.
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_waits_for_migrations_and_healthy_backends(services, name):
    assert services[name]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "db": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


@pytest.mark.parametrize("name", [*APP_SERVICES, "migrate"])
def test_app_services_share_one_image_and_environment(services, name):
    assert services[name]["build"] == "."
    assert services[name]["image"] == services["web"]["image"]
    assert services[name]["environment"] == services["web"]["environment"]


# Healthchecks


@pytest.mark.parametrize("name", [*APP_SERVICES, "redis", "db"])
def test_service_has_a_healthcheck(services, name):
    healthcheck = services[name]["healthcheck"]
    assert healthcheck["test"][0] in ("CMD", "CMD-SHELL")
    assert seconds(healthcheck["timeout"]) < seconds(healthcheck["interval"])


def test_web_healthcheck_asks_healthz_with_python_not_curl(services):
    test = services["web"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "urllib.request" in test[3]
    assert "http://127.0.0.1:8000/healthz" in test[3]


def test_worker_healthcheck_pings_its_own_node(services):
    kind, command = services["worker"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL"
    # $$ reaches the container's shell as $HOSTNAME, the worker's default name.
    assert interpolate(command).startswith(
        "celery -A config inspect ping --destination celery@$HOSTNAME"
    )


def test_beat_healthcheck_watches_a_task_beat_sends_every_few_seconds(services):
    script = services["beat"]["healthcheck"]["test"][-1]
    watched = re.search(r"name='([\w-]+)'", script)[1]
    schedule = settings.CELERY_BEAT_SCHEDULE[watched]["schedule"]
    assert isinstance(schedule, float) and schedule <= 60  # Seconds.
    assert "timedelta(minutes=10)" in script


def test_redis_and_db_healthchecks_use_their_own_clients(services):
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    test = services["db"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "pg_isready"]
    # TCP, so the socket-only server of the first initialisation does not count.
    assert "--host=127.0.0.1" in test


# Backing services


def test_redis_keeps_messages_across_restarts_and_never_evicts(services):
    redis = services["redis"]
    assert redis["image"] == "redis:7"
    command = redis["command"]
    assert command[0] == "redis-server"
    assert option(command, "--appendonly") == "yes"
    assert option(command, "--appendfsync") == "everysec"
    assert option(command, "--maxmemory-policy") == "noeviction"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_db_is_postgres_15_on_a_volume(services):
    db = services["db"]
    assert db["image"] == "postgres:15"
    assert db["volumes"] == ["postgres-data:/var/lib/postgresql/data"]


def test_mailpit_web_ui_is_published_on_localhost(services):
    mailpit = services["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit")
    # It shows every email, password-reset links included.
    assert mailpit["ports"] == ["127.0.0.1:8025:8025"]


def test_named_volumes_are_declared(compose, services):
    used = {
        volume.split(":")[0]
        for service in services.values()
        for volume in service.get("volumes", [])
    }
    assert used == set(compose["volumes"])


# Shutdown


def longest_task_hard_time_limit(*, resumable: bool = False) -> float:
    """The longest hard time limit of the tasks that cannot be cut off (or,
    with `resumable`, of the job tasks that can: they go on from their last
    batch)."""
    autodiscover_modules("tasks")  # As a worker does at start-up.
    default = celery_app.conf.task_time_limit
    return max(
        task.time_limit or default
        for task in celery_app.tasks.values()
        if getattr(getattr(task, "model", None), "resumable", False) == resumable
    )


def test_worker_grace_period_outlasts_the_longest_task(services):
    longest = longest_task_hard_time_limit()
    assert longest >= settings.CELERY_TASK_TIME_LIMIT
    # A warm shutdown finishes running tasks; Docker must not SIGKILL first.
    assert seconds(services["worker"]["stop_grace_period"]) > longest
    # Longer ones save their work in batches and are resumed by the sweeper
    # once their lease lapses; they must say so, not be cut off unawares.
    assert longest_task_hard_time_limit(resumable=True) > longest


def test_web_grace_period_outlasts_gunicorn_graceful_timeout(services):
    web = services["web"]
    graceful = int(option(web["command"], "--graceful-timeout"))
    assert seconds(web["stop_grace_period"]) > graceful
