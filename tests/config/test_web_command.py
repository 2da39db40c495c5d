"""
The web service's gunicorn command and its healthcheck, run as real processes
from the imitated image (see container_commands.py).
"""

import json
import socket
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from django.db import connection

from apps.core import changes
from tests.config.container_commands import (
    SERVICES,
    clean_env,
    container_env,
    run,
    started,
)
from tests.processes import free_port, wait_until


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


@contextmanager
def web_command(image_dir, redis_url: str, log, **variables):
    """The web service's gunicorn command, on a free port of 127.0.0.1, in the
    compose environment (plus `variables`), until the block ends."""
    port = free_port()
    command = with_option(SERVICES["web"]["command"], "--bind", f"127.0.0.1:{port}")
    env = container_env(image_dir, redis_url=redis_url, **variables)
    with started(command, cwd=image_dir, env=env, log=log) as server:
        wait_until(
            lambda: server.running() and listening(port),
            timeout=20,
            message=f"gunicorn did not listen; its output is in {log}",
        )
        server.port, server.url = port, f"http://127.0.0.1:{port}"
        yield server


@pytest.fixture(scope="module")
def web(image_dir, django_db_setup, redis_server, tmp_path_factory):
    """The web command, shared by the tests below. It only reads the test
    database (readiness), so the migrated database of the session is enough.
    """
    log = tmp_path_factory.mktemp("web") / "gunicorn.log"
    with web_command(image_dir, redis_server.url, log) as server:
        yield server


# web


def test_web_command_answers_healthz(web):
    status, _, body = get(f"{web.url}/healthz")
    assert (status, body) == (200, b"ok")


def test_web_command_is_ready_with_the_database_and_the_broker(web):
    status, _, body = get(f"{web.url}/readyz")
    assert status == 200
    assert json.loads(body) == {"database": "ok", "broker": "ok"}


@pytest.mark.django_db
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="LISTEN/NOTIFY is PostgreSQL's"
)
def test_each_web_worker_listens_for_job_changes(web):
    # So that a status poll for a job nobody changed asks the database
    # nothing (apps.core.changes, started by gunicorn.conf.py).
    command = SERVICES["web"]["command"]
    workers = int(command[command.index("--workers") + 1])

    def listeners():
        with connection.cursor() as cursor:
            # Read afresh: within a transaction the statistics stay as first read.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE application_name = %s AND datname = current_database()",
                [changes.CHANNEL],
            )
            return cursor.fetchone()[0]

    wait_until(lambda: listeners() == workers, timeout=20)


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


def test_a_slow_upload_outlasts_the_worker_timeout(
    image_dir, django_db_setup, redis_server, tmp_path
):
    """A body that takes longer to arrive than gunicorn's timeout (a large
    upload on a slow connection) is read to the end, not cut by a killed
    worker. The timeout is shortened to 2 s so the body takes 4."""
    port = free_port()
    command = with_option(SERVICES["web"]["command"], "--bind", f"127.0.0.1:{port}")
    command = with_option(command, "--timeout", "2")
    env = container_env(image_dir, redis_url=redis_server.url)
    log = tmp_path / "gunicorn.log"
    chunk, chunks = b"a" * 1024, 8
    with started(command, cwd=image_dir, env=env, log=log) as server:
        wait_until(lambda: server.running() and listening(port), timeout=20)
        with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
            # A form post with a CSRF cookie but no token: Django reads the
            # whole body looking for the token, then refuses it (403).
            conn.sendall(
                b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Cookie: csrftoken=" + b"x" * 32 + b"\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\nfield="
                % (6 + len(chunk) * chunks)
            )
            for _ in range(chunks):
                time.sleep(0.5)
                conn.sendall(chunk)
            answer = conn.makefile("rb").readline()
    assert answer.startswith(b"HTTP/1.1 403"), (answer, log.read_text()[-2000:])


def test_flower_command_asks_for_its_password(image_dir, redis_server, tmp_path):
    """The flower profile's command, with the .env's user and password, on a
    free port: nothing without them, its dashboard with them."""
    import base64

    port = free_port()
    command = [
        arg.replace(
            "${FLOWER_USER:?set FLOWER_USER in .env}:"
            "${FLOWER_PASSWORD:?set FLOWER_PASSWORD in .env}",
            "ops:s3cret",
        )
        for arg in SERVICES["flower"]["command"]
    ]
    command = [
        "--address=127.0.0.1" if arg.startswith("--address=") else arg
        for arg in command
    ]
    command = [
        f"--port={port}" if arg.startswith("--port=") else arg for arg in command
    ]
    env = container_env(image_dir, redis_url=redis_server.url)
    log = tmp_path / "flower.log"
    with started(command, cwd=image_dir, env=env, log=log) as flower:
        wait_until(
            lambda: flower.running() and listening(port),
            timeout=30,
            message=f"flower did not listen; its output is in {log}",
        )
        status, headers, _ = get(f"http://127.0.0.1:{port}/")
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/",
            headers={
                "Authorization": "Basic " + base64.b64encode(b"ops:s3cret").decode()
            },
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            assert response.status == 200
            assert b"Flower" in response.read()


def test_web_command_writes_json_access_lines_with_the_request_id(
    image_dir, django_db_setup, redis_server, tmp_path
):
    # LOG_FORMAT=json, as deploy/k8s sets it: gunicorn's lines are JSON too
    # (gunicorn.conf.py), its access line with the id the response carries.
    log = tmp_path / "gunicorn.log"
    with web_command(image_dir, redis_server.url, log, LOG_FORMAT="json") as server:
        status, headers, _ = get(f"{server.url}/no-such-page/")

        def access_line():
            lines = [
                json.loads(text)
                for text in log.read_text().splitlines()
                if text.startswith("{")
            ]
            found = [line for line in lines if line["logger"] == "gunicorn.access"]
            return found[0] if found else None

        line = wait_until(access_line, timeout=10, message=log.read_text())
    assert status == 404
    assert line["request_id"] == headers["X-Request-ID"]
    assert (line["method"], line["path"], line["status"]) == (
        "GET",
        "/no-such-page/",
        404,
    )
    assert isinstance(line["duration_ms"], int)
