"""
docker-compose.yml and the Dockerfile, checked against the settings they run.

There is no Docker engine here, so these tests read the files and compare them
with config/settings.py, .env.example and the Celery app; the commands
themselves run as real processes in test_container_commands.py.
"""

import json
import re
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings
from django.utils.module_loading import autodiscover_modules

from config.celery import app as celery_app
from tests.processes import BASE_DIR

APP_SERVICES = ["web", "worker", "beat"]
COMPOSE_SERVICES = {"web", "worker", "beat", "redis", "db", "mailpit", "migrate"}


def compose_file() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def interpolate(value: str) -> str:
    """The value as compose passes it on when the shell sets no variable:
    `${NAME:-default}` becomes the default and `$$` a literal `$`."""

    def replace(match):
        return "$" if match[0] == "$$" else match[2] or ""

    return re.sub(r"\$\$|\$\{(\w+)(?::?-([^}]*))?\}", replace, value)


def app_environment(compose: dict) -> dict[str, str]:
    return {
        name: interpolate(str(value))
        for name, value in compose["services"]["web"]["environment"].items()
    }


def documented_variables() -> set[str]:
    """The names .env.example sets: every variable the settings read."""
    text = (BASE_DIR / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped, continuations joined."""
    lines = (BASE_DIR / "Dockerfile").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    instructions = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if line.strip():
            name, _, arguments = line.strip().partition(" ")
            instructions.append((name.upper(), " ".join(arguments.split())))
    return instructions


def dockerfile_arguments(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_instructions() if name == instruction]


def seconds(duration: str) -> float:
    """A compose duration such as `2m`, `30s` or `1m30s`, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration)
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def option(command: list[str], name: str) -> str:
    """The value of `--name value` or `--name=value` in an argv list."""
    for index, arg in enumerate(command):
        if arg == name:
            return command[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {command}")


@pytest.fixture(scope="module")
def compose():
    return compose_file()


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


@pytest.fixture(scope="module")
def app_env(compose):
    return app_environment(compose)


# Services and commands


def test_compose_defines_the_six_services_and_the_migrate_job(services):
    assert set(services) == COMPOSE_SERVICES


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
        "--queues=quick,heavy,critical",
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


def test_beat_healthcheck_watches_a_task_beat_sends_every_minute(services):
    script = services["beat"]["healthcheck"]["test"][-1]
    watched = re.search(r"name='([\w-]+)'", script)[1]
    schedule = settings.CELERY_BEAT_SCHEDULE[watched]["schedule"]
    assert len(schedule.minute) == 60 and len(schedule.hour) == 24
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


# Environment


def test_app_environment_sets_only_variables_the_settings_read(app_env):
    documented = documented_variables()
    settings_source = (BASE_DIR / "config" / "settings.py").read_text()
    assert set(app_env) <= documented
    for name in app_env:
        assert f'"{name}"' in settings_source, f"config/settings.py never reads {name}"


def test_app_environment_is_production_mode_over_plain_http(app_env):
    assert app_env["DEBUG"] == "False"
    assert app_env["HTTPS"] == "False"
    assert {"localhost", "127.0.0.1", "web"} <= set(app_env["ALLOWED_HOSTS"].split(","))


def test_secret_key_is_taken_from_the_shell_with_a_marked_placeholder(services):
    raw = services["web"]["environment"]["SECRET_KEY"]
    assert raw.startswith("${SECRET_KEY:-")
    placeholder = interpolate(raw)
    assert "placeholder" in placeholder
    # Django's own marker for an insecure key: `check --deploy` refuses it.
    assert placeholder.startswith("django-insecure-")


def test_database_url_reaches_the_db_service_with_its_credentials(app_env, services):
    url = urlsplit(app_env["DATABASE_URL"])
    db = services["db"]["environment"]
    assert url.scheme == "postgres"
    assert (url.hostname, url.port) == ("db", 5432)
    assert (url.username, url.password) == (
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
    )
    assert url.path == f"/{db['POSTGRES_DB']}"


def test_redis_url_reaches_the_redis_service(app_env):
    url = urlsplit(app_env["REDIS_URL"])
    assert (url.scheme, url.hostname, url.port) == ("redis", "redis", 6379)


def test_email_url_reaches_mailpit_smtp(app_env):
    url = urlsplit(app_env["EMAIL_URL"])
    assert (url.scheme, url.hostname, url.port) == ("smtp", "mailpit", 1025)


@pytest.mark.parametrize("name", ["web", "worker"])
def test_web_and_worker_share_the_media_volume_at_media_root(services, app_env, name):
    # The worker writes thumbnails and reports that web serves.
    assert f"media:{app_env['MEDIA_ROOT']}" in services[name]["volumes"]


# Shutdown


def longest_task_hard_time_limit() -> float:
    autodiscover_modules("tasks")  # As a worker does at start-up.
    default = celery_app.conf.task_time_limit
    return max(task.time_limit or default for task in celery_app.tasks.values())


def test_worker_grace_period_outlasts_the_longest_task(services):
    longest = longest_task_hard_time_limit()
    assert longest >= settings.CELERY_TASK_TIME_LIMIT
    # A warm shutdown finishes running tasks; Docker must not SIGKILL first.
    assert seconds(services["worker"]["stop_grace_period"]) > longest


def test_web_grace_period_outlasts_gunicorn_graceful_timeout(services):
    web = services["web"]
    graceful = int(option(web["command"], "--graceful-timeout"))
    assert seconds(web["stop_grace_period"]) > graceful


# Dockerfile


def test_dockerfile_builds_on_python_311_slim():
    (base,) = dockerfile_arguments("FROM")
    assert base.startswith("python:3.11-slim")


def test_dockerfile_installs_the_libraries_weasyprint_loads():
    installs = " ".join(
        args for args in dockerfile_arguments("RUN") if "apt-get install" in args
    ).split()
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b"):
        assert package in installs
    assert "curl" not in installs


def test_dockerfile_installs_the_production_requirements():
    assert "pip install -r requirements/prod.txt" in dockerfile_arguments("RUN")
    # What compose runs: gunicorn for web, psycopg for its PostgreSQL URL.
    prod = (BASE_DIR / "requirements" / "prod.txt").read_text()
    assert "gunicorn==" in prod and "psycopg[binary]==" in prod


def test_dockerfile_collects_static_files_after_copying_the_project():
    instructions = dockerfile_instructions()
    copy_all = instructions.index(("COPY", ". ."))
    collect = instructions.index(
        ("RUN", "DEBUG=False python manage.py collectstatic --noinput")
    )
    assert copy_all < collect


def test_dockerfile_runs_as_a_non_root_user_after_the_last_root_step():
    instructions = dockerfile_instructions()
    (user,) = dockerfile_arguments("USER")
    assert user not in ("root", "0")
    last_run = max(i for i, (name, _) in enumerate(instructions) if name == "RUN")
    assert instructions.index(("USER", user)) > last_run
    assert f"useradd --create-home --uid 1000 --user-group {user}" in (
        dockerfile_arguments("RUN")
    )


def test_dockerfile_cmd_is_the_compose_web_command(services):
    (cmd,) = dockerfile_arguments("CMD")
    assert json.loads(cmd) == services["web"]["command"]
    assert dockerfile_arguments("EXPOSE") == ["8000"]
