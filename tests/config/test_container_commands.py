"""
The commands the containers run, run here as real processes.

There is no Docker engine here, so the image is imitated: the build context is
copied by .dockerignore's rules into a temporary `app/`, the Dockerfile's
collectstatic step runs there, and the services' commands and healthchecks run
from it with the compose environment, the test database and a private
redis-server standing in for the db and redis containers. Programs come from
the virtualenv that runs the tests, as pip puts them on the image's PATH.
"""

import functools
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from tests.config.test_compose import (
    app_environment,
    compose_file,
    dockerfile_arguments,
    documented_variables,
    interpolate,
)
from tests.processes import (
    BASE_DIR,
    database_url,
    free_port,
    require_program,
    wait_until,
)

SERVICES = compose_file()["services"]
VENV_BIN = Path(sys.executable).parent


# The build context


@functools.cache
def dockerignore_patterns() -> list[re.Pattern]:
    patterns = []
    for line in (BASE_DIR / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # Only *, ? and ** are translated below; refuse what would be misread.
        assert not set(line) & set("![]\\"), f"unsupported .dockerignore: {line}"
        regex = "".join(
            {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                part, re.escape(part)
            )
            for part in re.split(r"(\*\*/|\*\*|\*|\?)", line.strip("/"))
        )
        patterns.append(re.compile(regex))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether `COPY . .` copies `path` (relative to the project, / separated).

    As Docker does, a pattern matches from the project root and excludes a
    directory with everything in it.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    return not any(
        pattern.fullmatch(prefix)
        for pattern in dockerignore_patterns()
        for prefix in prefixes
    )


def copy_build_context(destination: Path) -> None:
    for root, dirs, files in os.walk(BASE_DIR):
        relative = Path(root).relative_to(BASE_DIR)
        dirs[:] = [
            name for name in dirs if in_build_context((relative / name).as_posix())
        ]
        for name in files:
            path = (relative / name).as_posix()
            if in_build_context(path):
                (destination / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(BASE_DIR / path, destination / path)


# Processes


def clean_env(**variables: str) -> dict[str, str]:
    """This environment minus every variable the settings read, plus `variables`.

    The virtualenv's bin comes first on PATH, where the image has pip's scripts.
    """
    documented = documented_variables()
    env = {name: value for name, value in os.environ.items() if name not in documented}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **variables}


def container_env(image_dir: Path, *, redis_url: str, **variables: str) -> dict:
    """The compose environment of the app services, with the test database and
    the private Redis in place of the db and redis services, no Mailpit to send
    to, and the media folder inside the imitated image."""
    env = app_environment(compose_file())
    local = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis_url,
        "EMAIL_URL": "dummymail://",
        "MEDIA_ROOT": str(image_dir / "var" / "media"),
    }
    assert set(local) <= set(env)
    return clean_env(**{**env, **local, **variables})


def resolve(argv: list[str], env: dict) -> list[str]:
    program = shutil.which(argv[0], path=env["PATH"]) or require_program(argv[0])
    return [program, *argv[1:]]


def run(argv: list[str], *, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        resolve(argv, env),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )


class Started:
    """A long-running command in its own process group; output goes to `log`."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict, log: Path):
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                resolve(argv, env),
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"exited {self.process.returncode}:\n{self.output()}")
        return True

    def shows(self, text: str) -> bool:
        return self.running() and text in self.output()

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


@contextmanager
def started(argv: list[str], **kwargs):
    command = Started(argv, **kwargs)
    try:
        yield command
    finally:
        command.stop()


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def get(url: str) -> tuple[int, dict, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def with_option(command: list[str], name: str, value: str) -> list[str]:
    index = command.index(name)
    return [*command[: index + 1], value, *command[index + 2 :]]


# Fixtures


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """/app as the Dockerfile leaves it: the build context, static files collected."""
    app_dir = tmp_path_factory.mktemp("image") / "app"
    copy_build_context(app_dir)
    (collectstatic,) = [
        step for step in dockerfile_arguments("RUN") if "collectstatic" in step
    ]
    result = run(["sh", "-c", collectstatic], cwd=app_dir, env=clean_env())
    assert result.returncode == 0, result.stdout
    return app_dir


@pytest.fixture(scope="module")
def web(image_dir, django_db_setup, redis_server, tmp_path_factory):
    """The web service's gunicorn command, on a free port of 127.0.0.1.

    It only reads the test database (readiness), so the migrated database of
    the session is enough.
    """
    port = free_port()
    command = with_option(SERVICES["web"]["command"], "--bind", f"127.0.0.1:{port}")
    env = container_env(image_dir, redis_url=redis_server.url)
    log = tmp_path_factory.mktemp("web") / "gunicorn.log"
    with started(command, cwd=image_dir, env=env, log=log) as server:
        wait_until(
            lambda: server.running() and listening(port),
            timeout=20,
            message=f"gunicorn did not listen; its output is in {log}",
        )
        server.port, server.url = port, f"http://127.0.0.1:{port}"
        yield server


# What goes into the image


def test_build_context_holds_the_code_templates_static_files_and_requirements():
    needed = ["manage.py", "requirements/base.txt", "requirements/prod.txt"]
    for folder in ("apps", "config", "templates", "static"):
        needed += [
            path.relative_to(BASE_DIR).as_posix()
            for path in (BASE_DIR / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ]
    assert [path for path in needed if not in_build_context(path)] == []


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "var/db.sqlite3",
        "var/media/originals/photo.jpg",
        "staticfiles/staticfiles.json",
        "control/quick.exchange",
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "apps/core/__pycache__/views.cpython-311.pyc",
    ],
)
def test_build_context_leaves_out_secrets_local_state_and_tooling(path):
    assert not in_build_context(path)


def test_dockerfile_collectstatic_writes_the_manifest_whitenoise_serves(image_dir):
    static_root = image_dir / "staticfiles"
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/app.css"]
    assert re.fullmatch(r"css/app\.[0-9a-f]{12}\.css", hashed)
    assert (static_root / hashed).is_file()
    assert (static_root / f"{hashed}.gz").is_file()


# web


def test_web_command_answers_healthz(web):
    status, _, body = get(f"{web.url}/healthz")
    assert (status, body) == (200, b"ok")


def test_web_command_is_ready_with_the_database_and_the_broker(web):
    status, _, body = get(f"{web.url}/readyz")
    assert status == 200
    assert json.loads(body) == {"database": "ok", "broker": "ok"}


def test_web_command_serves_hashed_static_files_through_whitenoise(web, image_dir):
    static_root = image_dir / "staticfiles"
    hashed = json.loads((static_root / "staticfiles.json").read_text())["paths"][
        "css/app.css"
    ]
    status, headers, body = get(f"{web.url}/static/{hashed}")
    assert status == 200
    assert headers["Content-Type"].startswith("text/css")
    # A hashed name never changes content, so browsers may keep it for good.
    assert "immutable" in headers["Cache-Control"]
    assert body == (static_root / hashed).read_bytes()


def test_web_healthcheck_passes_against_the_running_server(web, image_dir):
    _, *argv = SERVICES["web"]["healthcheck"]["test"]
    argv = [arg.replace(":8000/", f":{web.port}/") for arg in argv]
    result = run(argv, cwd=image_dir, env=clean_env())
    assert result.returncode == 0, result.stdout


def test_web_healthcheck_fails_when_nothing_answers(image_dir):
    _, *argv = SERVICES["web"]["healthcheck"]["test"]
    argv = [arg.replace(":8000/", f":{free_port()}/") for arg in argv]
    assert run(argv, cwd=image_dir, env=clean_env()).returncode != 0


# check --deploy

PRODUCTION = {"DEBUG": "False", "HTTPS": "True", "ALLOWED_HOSTS": "example.com"}
COMPOSE_SECRET_KEY = interpolate(SERVICES["web"]["environment"]["SECRET_KEY"])


def deploy_check(image_dir: Path, variables: dict) -> subprocess.CompletedProcess:
    command = ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    env = {name: value for name, value in variables.items() if value is not None}
    return run(command, cwd=image_dir, env=clean_env(**env))


def test_deploy_check_passes_with_a_production_environment(image_dir):
    result = deploy_check(
        image_dir, {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50)}
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        pytest.param({"DEBUG": "True"}, "security.W018", id="debug-on"),
        pytest.param({"SECRET_KEY": None}, "security.W009", id="settings-default-key"),
        pytest.param(
            {"SECRET_KEY": COMPOSE_SECRET_KEY},
            "security.W009",
            id="compose-placeholder",
        ),
        pytest.param({"HTTPS": "False"}, "security.W012", id="plain-http"),
        pytest.param({"DEMO_MODE": "True"}, "orders.E001", id="demo-mode"),
    ],
)
def test_deploy_check_fails_on_an_unsafe_setting(image_dir, change, warning):
    variables = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50), **change}
    result = deploy_check(image_dir, variables)
    assert result.returncode != 0
    assert warning in result.stdout


# worker and beat


def test_worker_healthcheck_pings_the_running_worker(
    image_dir, django_db_setup, redis_server, tmp_path
):
    # In a container $HOSTNAME is the container's hostname, and the worker's
    # default node name is celery@<hostname>; here both are this machine's.
    env = container_env(
        image_dir, redis_url=redis_server.url, HOSTNAME=socket.gethostname()
    )
    # One child is enough to answer a ping; the image starts one per CPU.
    command = [*SERVICES["worker"]["command"], "--concurrency=1"]
    with started(
        command, cwd=image_dir, env=env, log=tmp_path / "worker.log"
    ) as worker:
        wait_until(lambda: worker.shows(" ready."), timeout=30, interval=0.1)
        _, check = SERVICES["worker"]["healthcheck"]["test"]
        result = run(["sh", "-c", interpolate(check)], cwd=image_dir, env=env)
    assert result.returncode == 0, result.stdout
    assert f"celery@{socket.gethostname()}: OK" in result.stdout


def stored_schedule() -> set[str]:
    return set(PeriodicTask.objects.values_list("name", flat=True))


def test_beat_command_starts_the_database_scheduler(
    image_dir, transactional_db, redis_server, tmp_path
):
    env = container_env(image_dir, redis_url=redis_server.url)
    names = set(settings.CELERY_BEAT_SCHEDULE)
    assert stored_schedule() == set()
    with started(
        SERVICES["beat"]["command"], cwd=image_dir, env=env, log=tmp_path / "beat.log"
    ) as beat:
        wait_until(lambda: beat.shows("beat: Starting..."), timeout=20, interval=0.1)
        # The DatabaseScheduler copies the settings' schedule into the database.
        wait_until(
            lambda: beat.running() and names <= stored_schedule(),
            timeout=20,
            interval=0.1,
            message=f"beat stored no schedule; its output is in {tmp_path}",
        )
        output = beat.output()
    assert "scheduler -> django_celery_beat.schedulers.DatabaseScheduler" in output
    assert beat.process.returncode == 0, beat.output()


def test_beat_healthcheck_fails_once_the_sweeper_has_not_run_for_ten_minutes(
    image_dir, transactional_db, redis_server
):
    sweep = PeriodicTask.objects.create(
        name="sweep-stuck-jobs",
        task=settings.CELERY_BEAT_SCHEDULE["sweep-stuck-jobs"]["task"],
        crontab=CrontabSchedule.objects.create(),
        last_run_at=timezone.now() - timedelta(minutes=1),
    )
    _, *check = SERVICES["beat"]["healthcheck"]["test"]
    env = container_env(image_dir, redis_url=redis_server.url)
    assert run(check, cwd=image_dir, env=env).returncode == 0

    sweep.last_run_at = timezone.now() - timedelta(minutes=11)
    sweep.save()
    assert run(check, cwd=image_dir, env=env).returncode == 1


# redis


def test_redis_command_keeps_an_append_only_file_and_never_evicts(tmp_path):
    port = free_port()
    command = [
        *SERVICES["redis"]["command"],
        *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)),
    ]
    program, *arguments = SERVICES["redis"]["healthcheck"]["test"][1:]
    ping = [program, "-p", str(port), *arguments]
    env = clean_env()
    with started(command, cwd=tmp_path, env=env, log=tmp_path / "redis.log") as server:
        wait_until(
            lambda: (
                server.running()
                and run(ping, cwd=tmp_path, env=env).stdout.strip() == "PONG"
            ),
            timeout=10,
            interval=0.1,
        )
        client = redis.Redis(port=port)
        config = {
            name: client.config_get(name)[name]
            for name in ("appendonly", "appendfsync", "maxmemory-policy")
        }
        client.close()
    assert config == {
        "appendonly": "yes",
        "appendfsync": "everysec",
        "maxmemory-policy": "noeviction",
    }
    assert (tmp_path / "appendonlydir").is_dir()
