"""
Log lines that say where they come from: every line a web request writes
carries its request id, every line a task writes its task id and name, and
the type and id of the job it runs. With LOG_FORMAT=json each line is one
JSON object (python-json-logger), ready for a log pipeline to index;
gunicorn's lines too, its access line with the request's id
(gunicorn.conf.py).

- The request id is the X-Request-ID header of the request when a proxy in
  front set a sane one, a fresh one otherwise; the response carries it back
  (RequestIdMiddleware), so a user's report and a log line can be matched.
- The job is set by the job task base (apps.core.job_task) while its task
  runs, from Celery's task_prerun signal to its task_postrun.
"""

import logging
import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar

from celery import current_task

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
# What we take from a proxy: short, and nothing a log reader could trip on.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# One JSON object a line: time, level, logger, message and the fields the
# filters below add. Django's LOGGING and gunicorn's (gunicorn.conf.py) use it.
JSON_FORMATTER = {
    "()": "pythonjsonlogger.json.JsonFormatter",
    "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
    "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
}

request_id: ContextVar[str] = ContextVar("request_id", default="")
# (job type label, job id) of the job the current task runs.
current_job: ContextVar[tuple[str, int] | None] = ContextVar(
    "current_job", default=None
)


def request_started(environ=None, **kwargs) -> None:
    """Give the request its id (Django's request_started signal): before any
    middleware, so that every line of the request has it."""
    given = (environ or {}).get(REQUEST_ID_HEADER, "")
    request_id.set(given if SANE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex)


def request_finished(**kwargs) -> None:
    """Forget it once the response is sent (after Django's own 4xx/5xx line)."""
    request_id.set("")


class ContextFilter(logging.Filter):
    """Adds request_id, task_id, task_name, job_type and job_id to a record,
    those that apply where it was written."""

    def filter(self, record: logging.LogRecord) -> bool:
        if rid := request_id.get():
            record.request_id = rid
        task = current_task
        if task and task.request.id:
            record.task_id, record.task_name = task.request.id, task.name
        if job := current_job.get():
            record.job_type, record.job_id = job
        return True


class AccessLogFields(logging.Filter):
    """Lifts what gunicorn's access line says into fields of the record: the
    request id (from the X-Request-ID the response carries, the one every
    line of the request has), the method, path, status, size and duration.
    gunicorn hands its access logger these values as the record's args."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if record.name == "gunicorn.access" and isinstance(atoms, Mapping):
            if (rid := atoms["{x-request-id}o"]) != "-":
                record.request_id = rid
            record.method, record.path = atoms["m"], atoms["U"]
            record.status = int(atoms["s"]) if str(atoms["s"]).isdigit() else None
            record.bytes = atoms["B"]
            record.duration_ms = atoms["M"]
        return True
