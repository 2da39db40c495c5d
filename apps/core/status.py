"""
What pages show of a job: the context of its live status box, its attempts as
a strip drawn to scale and as an event log, and its state as JSON. Used by
the job views (apps.core.views) and the {% job_status %} tag alike, so a box
rendered with the page and one fetched by a poll are the same.
"""

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from apps.core import changes, selectors
from apps.core.models import Job, JobAttempt

Outcome = JobAttempt.Outcome

# What each stretch of a job's life is called in the strip.
SEGMENT_LABELS = {
    "queued": "Waiting in the queue",
    "running": "Running",
    "retry-wait": "Waiting to retry",
    "lost": "Worker lost, waiting for another",
}


# A box whose job's row has not changed is still drawn afresh this often, so
# that its time line (how long the job has waited or run, folded away under
# "History") moves on; everything else in it changes only with the row.
REDRAW_SECONDS = 30

# How the event log introduces an attempt, after how the one before it ended.
AGAIN = {Outcome.RETRY: "Retried", Outcome.INTERRUPTED: "Taken over"}


@dataclass(frozen=True)
class Segment:
    kind: str  # A key of SEGMENT_LABELS; also the CSS class.
    seconds: float
    width: float  # Percent of the strip.

    @property
    def label(self) -> str:
        return f"{SEGMENT_LABELS[self.kind]}: {_seconds(self.seconds)}"


@dataclass(frozen=True)
class Event:
    at: datetime
    text: str
    kind: str = ""  # "error", "done" or "": how the log marks it.


def box_context(job: Job, request) -> dict:
    """The context of the job's box on the page `request` asked for."""
    label = job._meta.label_lower
    attempts = selectors.job_attempts(job)
    version = box_version(job, session_cookie(request))
    return {
        "job": job,
        "label": label,
        # The poll says which version of the box the page shows, so that an
        # unchanged job is answered with nothing to draw (box_unchanged).
        "poll_url": reverse("core:job_status", args=[label, job.pk]) + f"?v={version}",
        "cancel_url": reverse("core:job_cancel", args=[label, job.pk]),
        "attempts": attempts,
        "strip": strip(job, attempts),
        "events": events(job, attempts),
    }


def session_cookie(request) -> str:
    """The session cookie `request` came with: "" without one (or without a
    request, as a box drawn outside a page is)."""
    if request is None:
        return ""
    return request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")


def box_version(job: Job, session: str) -> str:
    """The version of the box drawn from `job` for the browser holding
    session cookie `session`, in two parts, or three (box_unchanged reads
    them all):

    - who may present it: a tag keyed with the SECRET_KEY over the job, the
      session cookie and the REDRAW_SECONDS period we are in;
    - what the box shows: a fingerprint of the job's columns that say it
      (its state, progress, stage, counts and attempts all live in the row,
      and every change of the job writes it), of whether its worker is lost,
      and of the same period, so that the box is drawn afresh now and then.
      The period is shifted by the job's id, so that the boxes of many jobs
      are not all redrawn in the same second;
    - on PostgreSQL, signed by the tag: from when to when the change feed
      may vouch for the box without its row being read (_window).

    Made from the instance the box is drawn from, not from a fresh read: a
    box drawn from a row that changed since it was loaded then carries an
    old fingerprint, and the next poll draws it again."""
    model = type(job)
    columns = selectors.box_columns(model)
    values = [field.get_prep_value(getattr(job, field.attname)) for field in columns]
    period = _period(job.pk)
    window = _window(job)
    return (
        _tag(model, job.pk, session, period, window)
        + _fingerprint(columns, values, job.worker_lost, period)
        + window
    )


def _window(job: Job) -> str:
    """When apps.core.changes may vouch that the job's box is unchanged
    without its row being read: "-since-until", from when the row was read
    to when the box would change with the clock alone (a running job's
    lease lapsing; "" for never). "" when it may not: a job not read from
    the database (its loaded_at unknown), a retry counting down, a worker
    found lost, or no feed in this process (SQLite)."""
    loaded_at = getattr(job, "loaded_at", None)
    if loaded_at is None or changes.feed.listening_since is None:
        return ""
    if job.status == Job.Status.RETRYING or job.worker_lost:
        return ""
    running = job.status == Job.Status.RUNNING
    until = int(job.lease_expires_at.timestamp()) if running else ""
    return f"-{int(loaded_at)}-{until}"


def box_unchanged(model: type[Job], pk: int, *, session: str, version: str) -> bool:
    """Whether a poll from the page showing box `version` of the job can be
    answered "nothing new" (204) without drawing it: with no query at all
    where this process's change feed can vouch for the job (PostgreSQL,
    apps.core.changes), else one small query, of the job's row; never of
    the session or the user.

    The version's tag stands in for the login check. It was made for this
    session cookie by a page that passed the check, so a poll that presents
    it with the same cookie, within the REDRAW_SECONDS it lasts, comes from
    that page. Any other poll is refused before the database is asked (so
    that how long it takes says nothing) and gets the full answer, which
    checks the login and the owner: another user's browser, a logged-out
    one (its cookie is gone), a made-up version. A session ended on the
    server while its browser kept the cookie goes on being told "nothing
    new" until the period ends. The answer says nothing about the job but
    that it has not changed.

    A box that changes with the clock alone (a retry counting down, a worker
    found lost) is always drawn."""
    if not session or pk > LARGEST_ID:
        return False
    period = _period(pk)
    tag = version[:TAG_LENGTH]
    fingerprint = version[TAG_LENGTH : TAG_LENGTH + FINGERPRINT_LENGTH]
    window = version[TAG_LENGTH + FINGERPRINT_LENGTH :]
    if not constant_time_compare(tag, _tag(model, pk, session, period, window)):
        return False
    if window and _vouched_for(model, pk, window):
        return True
    row = selectors.job_row_as_stored(model, pk, steady=True)
    if row is None:
        return False
    columns = selectors.box_columns(model)
    # A steady row's worker is not lost: the query leaves lapsed leases out.
    return fingerprint == _fingerprint(columns, row, False, period)


# The largest id a database column holds (SQLite refuses a bigger number).
LARGEST_ID = 2**63 - 1
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Hex digits of the version's tag (64 bits, guessed online within 30 s)
# and of its fingerprint.
TAG_LENGTH = 16
FINGERPRINT_LENGTH = 16


def _vouched_for(model: type[Job], pk: int, window: str) -> bool:
    """Whether the change feed has heard nothing of the job since its box
    was drawn, within the `window` the box was drawn with (signed: ours)."""
    _, since, until = window.split("-")
    if until and time.time() >= int(until):
        return False
    return changes.feed.unchanged_since(model._meta.db_table, pk, float(since))


def _period(pk: int) -> int:
    """Which REDRAW_SECONDS period it is for the job with id `pk`."""
    return int((timezone.now().timestamp() + pk % REDRAW_SECONDS) // REDRAW_SECONDS)


def _tag(model: type[Job], pk: int, session: str, period: int, window: str) -> str:
    text = repr((model._meta.label_lower, pk, session, period, window))
    return salted_hmac(__name__, text, algorithm="sha256").hexdigest()[:TAG_LENGTH]


def _fingerprint(columns, values, worker_lost: bool, period: int) -> str:
    row = tuple(
        _comparable(field, value) for field, value in zip(columns, values, strict=True)
    )
    text = repr((row, worker_lost, period)).encode()
    return hashlib.blake2b(text, digest_size=FINGERPRINT_LENGTH // 2).hexdigest()


def _comparable(field, value):
    """A column's value in one form, whether it comes from a model instance
    or straight from the database driver (which hands SQLite's datetimes,
    dates, decimals and booleans over as text or numbers): datetimes as
    microseconds since 1970, dates as ISO text, decimals as normalised text,
    booleans as 0 or 1. A form this misses only makes the two differ, and
    the box is drawn again."""
    if value is None:
        return None
    if isinstance(field, models.DateTimeField):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:  # SQLite's: stored in UTC (USE_TZ).
            value = value.replace(tzinfo=UTC)
        return (value - EPOCH) // timedelta(microseconds=1)
    if isinstance(field, models.DateField):
        return value if isinstance(value, str) else value.isoformat()
    if isinstance(field, models.DecimalField):
        return str(Decimal(str(value)).normalize())
    if isinstance(field, models.BooleanField):
        return int(value)
    return value


def job_json(job: Job) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "final": job.is_final,
        "progress": job.progress,
        "stage": job.stage,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "next_retry_at": job.next_retry_at.isoformat() if job.next_retry_at else None,
        "error": job.error_message,
    }


def strip(job: Job, attempts: list[JobAttempt]) -> list[Segment]:
    """The job's life from creation to now (or its end), one segment a stretch:
    in the queue, running, waiting to retry, or waiting after a lost worker."""
    now = timezone.now()
    stretches = []  # (kind, start, end)
    waiting_since, waiting_kind = job.created_at, "queued"
    for attempt in attempts:
        stretches.append((waiting_kind, waiting_since, attempt.started_at))
        end = attempt.finished_at or job.finished_at or now
        stretches.append(("running", attempt.started_at, end))
        waiting_since = end
        waiting_kind = {
            Outcome.RETRY: "retry-wait",
            Outcome.INTERRUPTED: "lost",
        }.get(attempt.outcome, "queued")
    if not job.is_final and job.status != Job.Status.RUNNING:
        stretches.append((waiting_kind, waiting_since, now))
    elif job.status == Job.Status.RUNNING and not attempts:
        stretches.append(("running", job.started_at or job.created_at, now))
    durations = [
        (kind, max(0.0, (end - start).total_seconds()))
        for kind, start, end in stretches
    ]
    total = sum(seconds for _, seconds in durations) or 1.0
    return [
        # Never thinner than a sliver: a 5 ms stretch still shows.
        Segment(kind, seconds, max(0.8, seconds / total * 100))
        for kind, seconds in durations
        if seconds > 0 or kind == "running"
    ]


def events(job: Job, attempts: list[JobAttempt]) -> list[Event]:
    """The job's history as a payment processor would log it, oldest first."""
    log = [Event(job.created_at, "Queued.")]
    previous = None
    for attempt in attempts:
        started = f"Attempt {attempt.number} started"
        if attempt.worker:
            started += f" on {attempt.worker}"
        if previous is not None and previous.finished_at:
            waited = (attempt.started_at - previous.finished_at).total_seconds()
            again = AGAIN.get(previous.outcome, "Run again")
            started = f"{again} {_seconds(waited)} later: a{started[1:]}"
        log.append(Event(attempt.started_at, started + "."))
        if attempt.finished_at is not None:
            log.append(_attempt_end(attempt))
        previous = attempt
    said = log[-1].text if log else ""
    if job.status == Job.Status.FAILED and job.error_message not in said:
        log.append(Event(job.finished_at or job.created_at, job.error_message, "error"))
    elif job.status == Job.Status.CANCELLED and not attempts:
        log.append(Event(job.finished_at or job.created_at, "Cancelled before it ran."))
    return log


def _attempt_end(attempt: JobAttempt) -> Event:
    took = _seconds(attempt.duration or 0)
    n = attempt.number
    match attempt.outcome:
        case Outcome.SUCCEEDED:
            return Event(
                attempt.finished_at, f"Attempt {n} succeeded in {took}.", "done"
            )
        case Outcome.RETRY:
            text = f"Attempt {n} failed after {took}: {attempt.error}."
            if attempt.retry_at:
                wait = (attempt.retry_at - attempt.finished_at).total_seconds()
                text += f" Retry planned in {_seconds(wait)}."
            return Event(attempt.finished_at, text, "error")
        case Outcome.INTERRUPTED:
            return Event(
                attempt.finished_at,
                f"Attempt {n} was cut off: its worker stopped answering.",
                "error",
            )
        case Outcome.CANCELLED:
            return Event(attempt.finished_at, f"Attempt {n} stopped: cancelled.")
        case _:
            reason = f": {attempt.error}" if attempt.error else ""
            return Event(
                attempt.finished_at, f"Attempt {n} failed after {took}{reason}", "error"
            )


def _seconds(value: float) -> str:
    if value < 10:
        return f"{value:.1f} s"
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.0f} min"
