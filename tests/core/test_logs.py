"""Log lines that say where they come from (apps.core.logs): a request id on
every web line, the task and the job on every line a task writes, one JSON
object a line with LOG_FORMAT=json."""

import io
import json
import logging

import pytest
from django.conf import settings
from django.test import Client
from django.utils.module_loading import import_string

from apps.core import logs
from apps.notifications.models import OutgoingEmail
from tests.processes import wait_until
from tests.worker.emails import welcome_email_queued

pytestmark = pytest.mark.django_db


@pytest.fixture
def json_lines():
    """What the project's JSON handler writes, while the test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    formatter = settings.LOGGING["formatters"]["json"]
    handler.setFormatter(
        import_string(formatter["()"])(
            fmt=formatter["fmt"], rename_fields=formatter["rename_fields"]
        )
    )
    handler.addFilter(logs.ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_a_web_line_carries_the_request_id_the_response_sends_back(json_lines):
    response = Client().get("/no-such-page/")

    rid = response["X-Request-ID"]
    assert len(rid) == 32
    (line,) = [line for line in json_lines() if line["logger"] == "django.request"]
    assert line["message"] == "Not Found: /no-such-page/"
    assert (line["level"], line["request_id"]) == ("WARNING", rid)
    assert "time" in line


def test_a_proxys_request_id_is_kept_and_a_strange_one_replaced():
    client = Client()
    given = client.get("/healthz", headers={"x-request-id": "edge-7f3a.1"})
    assert given["X-Request-ID"] == "edge-7f3a.1"
    strange = client.get("/healthz", headers={"x-request-id": "a b\nc"})
    assert strange["X-Request-ID"] != "a b\nc" and len(strange["X-Request-ID"]) == 32
    # Each request its own.
    assert client.get("/healthz")["X-Request-ID"] != strange["X-Request-ID"]


def test_no_request_id_outside_a_request(json_lines):
    Client().get("/healthz")
    logging.getLogger("apps.test").warning("after")
    (line,) = [line for line in json_lines() if line["message"] == "after"]
    assert "request_id" not in line


@pytest.mark.worker
def test_a_task_line_carries_the_task_and_the_job(start_worker):
    worker = start_worker(LOG_FORMAT="json")
    email = welcome_email_queued("logs@example.com")
    wait_until(
        lambda: OutgoingEmail.objects.filter(pk=email.pk, status="succeeded").exists(),
        timeout=15,
        message=f"not sent:\n{worker.output()}",
    )
    email.refresh_from_db()

    lines = [
        json.loads(text)
        for text in worker.output().splitlines()
        if text.startswith("{")
    ]
    sent = [line for line in lines if line["message"].startswith("Email ")]
    assert sent, worker.output()
    assert sent[-1]["message"] == f"Email {email.pk} sent to logs@example.com"
    assert sent[-1]["task_id"] == email.task_id
    assert sent[-1]["task_name"] == "apps.notifications.tasks.email_send"
    assert (sent[-1]["job_type"], sent[-1]["job_id"]) == (
        "notifications.outgoingemail",
        email.pk,
    )
    # Celery's own line for the task names the job too.
    (done,) = [
        line
        for line in lines
        if line["logger"] == "celery.app.trace"
        and line.get("task_id") == email.task_id
        and " succeeded in " in line["message"]
    ]
    assert (done["job_type"], done["job_id"]) == (
        "notifications.outgoingemail",
        email.pk,
    )
    # The worker's own lines are JSON too.
    assert any(line["message"].endswith(" ready.") for line in lines)
