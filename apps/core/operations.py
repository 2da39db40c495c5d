"""
What the staff operations page (/staff/operations/) reads and does.

- Queues: messages waiting (from the broker), the age of the oldest (the
  `published_at` header every message carries, read from Redis), and which
  workers consume each; pause and resume a queue's consumption on every
  worker (Celery's cancel_consumer / add_consumer).
- Workers: those that answer a ping, their concurrency and running tasks.
- Jobs of every type that need an eye, from the job rows (not Celery's
  memory): running, waiting to retry, stuck past their lease, failed in the
  last hour. Retry or discard failed ones, one by one or many at once.
- Every operator action is recorded (OperatorAction) and listed.
"""

import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import timedelta

from amqp.exceptions import NotFound
from celery import current_app
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count
from django.db.models.functions import TruncMinute
from django.utils import timezone
from django.utils.module_loading import import_string
from kombu.exceptions import ChannelError

from apps.core import selectors, services
from apps.core.models import Job, JobAttempt, OperatorAction, QueuePause, SweeperRun

logger = logging.getLogger(__name__)

# How long the page waits for workers to answer a ping, and at most for the
# questions after it (which return as soon as every worker has answered).
PING_TIMEOUT = 1.0
INSPECT_TIMEOUT = 3.0
# Jobs shown per list.
LIST_SIZE = 50


@dataclass
class Queue:
    name: str
    waiting: int | None  # None: the broker did not answer.
    oldest_seconds: float | None  # None: empty, or a broker we cannot peek into.
    consumers: list[str] | None  # The workers taking from it; None: unknown.
    paused: bool = False  # By an operator (QueuePause).


@dataclass
class Worker:
    name: str
    concurrency: int | None
    active: int
    queues: list[str]


@dataclass
class Jobs:
    running: list[Job]
    retrying: list[Job]
    stuck: list[Job]
    failed: list[Job]


# Queues and workers


def workers() -> list[Worker] | None:
    """The workers that answer, with what they run and consume; None if the
    broker itself does not answer."""
    try:
        # A ping waits the whole timeout for whoever answers; the questions
        # after it know how many answers to expect and return once all are in.
        control = current_app.control
        names = sorted(control.inspect(timeout=PING_TIMEOUT).ping() or {})
        if not names:
            return []
        inspect = control.inspect(
            destination=names, limit=len(names), timeout=INSPECT_TIMEOUT
        )
        stats = inspect.stats() or {}
        active = inspect.active() or {}
        queues = inspect.active_queues() or {}
    except Exception:  # The page says the broker did not answer.
        logger.exception("Operations: the broker did not answer")
        return None
    return [
        Worker(
            name=name,
            concurrency=(stats.get(name) or {}).get("pool", {}).get("max-concurrency"),
            active=len(active.get(name) or []),
            queues=sorted(queue["name"] for queue in queues.get(name) or []),
        )
        for name in names
    ]


def queues(online: list[Worker] | None) -> list[Queue]:
    paused = set(QueuePause.objects.values_list("queue", flat=True))
    found = [
        Queue(
            name=queue.name,
            waiting=None,
            oldest_seconds=None,
            consumers=None
            if online is None
            else [w.name for w in online if queue.name in w.queues],
            paused=queue.name in paused,
        )
        for queue in settings.CELERY_TASK_QUEUES
    ]
    if online is None:
        return found  # The broker is down: nothing more to ask it.
    try:
        with current_app.connection_for_read() as connection:
            for queue in found:
                queue.waiting = waiting(connection, queue.name)
                queue.oldest_seconds = _oldest_age(connection, queue.name)
    except Exception:  # The page says the broker did not answer (waiting None).
        logger.exception("Operations: the broker did not answer")
    return found


def waiting(connection, queue: str) -> int:
    """Messages waiting in `queue`: 0 for a queue the broker never saw."""
    # A channel each: a broker that has never seen the queue refuses the
    # passive declare (it is empty then) and, on RabbitMQ, closes the channel.
    with connection.channel() as channel:
        try:
            return channel.queue_declare(queue=queue, passive=True).message_count
        except (ChannelError, NotFound):
            return 0


def _oldest_age(connection, queue: str) -> float | None:
    """Seconds since the oldest waiting message of `queue` was published, on
    Redis (kombu keeps a queue as a list, the oldest message at its end)."""
    client = getattr(connection.default_channel, "client", None)
    if client is None or not hasattr(client, "lindex"):
        return None
    raw = client.lindex(queue, -1)
    if raw is None:
        return None
    try:
        published = json.loads(raw)["headers"]["published_at"]
    except (ValueError, KeyError, TypeError):
        return None  # A message from before the header existed.
    return max(time.time() - float(published), 0.0)


def queue_pause(queue: str, *, user) -> list[str]:
    """Every worker stops taking messages from `queue` (they stay in it);
    the workers that consumed it, which Resume gives it back to."""
    _known_queue(queue)
    replies = current_app.control.cancel_consumer(
        queue, reply=True, timeout=PING_TIMEOUT
    )
    had_it = sorted(
        name
        for reply in replies or []
        for name, answer in reply.items()
        if "no longer consuming" in str(answer.get("ok", ""))
    )
    pause, created = QueuePause.objects.get_or_create(
        queue=queue, defaults={"workers": had_it, "user": user}
    )
    if not created:  # Paused again: remember every worker that had it.
        pause.workers = sorted(set(pause.workers) | set(had_it))
        pause.save(update_fields=["workers"])
    record(user, "paused queue", f"{queue} ({', '.join(had_it) or 'no worker had it'})")
    return had_it


def queue_resume(queue: str, *, user) -> list[str]:
    """The workers that consumed `queue` when it was paused take from it
    again; no other worker starts to."""
    _known_queue(queue)
    pause = QueuePause.objects.filter(queue=queue).first()
    workers = pause.workers if pause else []
    if workers:
        current_app.control.add_consumer(
            queue, destination=workers, reply=True, timeout=PING_TIMEOUT
        )
    QueuePause.objects.filter(queue=queue).delete()
    record(user, "resumed queue", f"{queue} ({', '.join(workers) or 'no worker'})")
    return workers


def paused_queues() -> set[str]:
    return set(QueuePause.objects.values_list("queue", flat=True))


def _known_queue(queue: str) -> None:
    if queue not in {q.name for q in settings.CELERY_TASK_QUEUES}:
        raise ValueError(f"No queue {queue!r}")


# Jobs


def jobs_needing_attention(now=None) -> Jobs:
    now = now or timezone.now()
    hour_ago = now - timedelta(hours=1)
    found = Jobs([], [], [], [])
    for model in selectors.job_models():
        rows = model.objects.defer(*selectors.long_columns(model)).order_by("-pk")
        found.running += rows.filter(
            status=Job.Status.RUNNING, lease_expires_at__gte=now
        )[:LIST_SIZE]
        found.retrying += rows.filter(status=Job.Status.RETRYING)[:LIST_SIZE]
        found.stuck += rows.filter(selectors.lease_lapsed(now))[:LIST_SIZE]
        found.failed += rows.filter(
            status=Job.Status.FAILED, finished_at__gte=hour_ago
        )[:LIST_SIZE]
    for jobs in (found.running, found.retrying, found.stuck, found.failed):
        jobs.sort(key=lambda job: job.created_at, reverse=True)
        del jobs[LIST_SIZE:]
    return found


def job_of(reference: str, *, lock: bool = False) -> Job | None:
    """The job named "label:pk" ("orders.payment:12"), or None; `lock`
    holds its row until the transaction ends."""
    label, _, pk = reference.partition(":")
    model = selectors.job_model(label)
    if model is None or not (pk.isascii() and pk.isdigit() and len(pk) <= 18):
        return None
    rows = model.objects.select_for_update() if lock else model.objects
    return rows.filter(pk=int(pk)).first()


def jobs_retry(references: list[str], *, user) -> int:
    """Run these failed jobs again; how many were (a job that is not failed
    any more, or whose type refuses, is left alone)."""
    retried = []
    for reference in references:
        with transaction.atomic():
            # Locked: two operators (or a retry and a discard) at once act
            # on it one after the other, the second finding it not failed.
            job = job_of(reference, lock=True)
            if job is not None and job.status == Job.Status.FAILED and _retry(job):
                retried.append(reference)
    if retried:
        record(user, "retried", _described(retried), count=len(retried))
    return len(retried)


def jobs_discard(references: list[str], *, user) -> int:
    """Set these failed jobs aside for good: cancelled, never retried; how
    many were."""
    discarded = []
    for reference in references:
        job = job_of(reference)
        if job is not None and _discard(job):
            discarded.append(reference)
    if discarded:
        record(user, "discarded", _described(discarded), count=len(discarded))
    return len(discarded)


def _retry(job: Job) -> bool:
    """Run a failed (or cancelled) job again, from its first attempt, as its
    type allows (Job.operator_retry); True if it will run."""
    if job.status not in REPLAYABLE:
        return False
    if job.operator_retry:
        return bool(import_string(job.operator_retry)(job))
    services.job_requeue(job, stage="Retried by an operator")
    return True


def _discard(job: Job) -> bool:
    """Set a failed job aside for good (cancelled, never retried), if its type
    allows; True if it was."""
    if not job.operator_can_discard:
        return False
    return bool(
        type(job)
        .objects.filter(pk=job.pk, status=Job.Status.FAILED)
        .update(status=Job.Status.CANCELLED, stage="Discarded by an operator")
    )


def _described(references: list[str]) -> str:
    shown = ", ".join(references[:5])
    return shown + (f" and {len(references) - 5} more" if len(references) > 5 else "")


# Incident replay: every job of a type that ended in a state within a time
# range (the payments that failed while the gateway was down), run again.

REPLAYABLE = (Job.Status.FAILED, Job.Status.CANCELLED)
# Jobs one replay retries at most; a bigger incident is replayed in parts.
REPLAY_LIMIT = 10_000


def replay_matches(model: type[Job], state: str, start, end):
    """The jobs a replay would run again (its dry run counts them)."""
    return model.objects.filter(
        status=state, finished_at__gte=start, finished_at__lt=end
    )


def replay_start(*, model: type[Job], state: str, start, end, user) -> int:
    """Record the replay and hand it to a worker; how many jobs match now."""
    count = replay_matches(model, state, start, end).count()
    record(
        user,
        "replayed",
        f"{model._meta.label_lower} {state} "
        f"{start:%Y-%m-%d %H:%M}–{end:%Y-%m-%d %H:%M}",
        count=count,
    )
    # By its path, as the job kit imports job tasks: a web process has not
    # imported every tasks.py.
    replay = import_string("apps.core.tasks.operations_replay")
    replay.delay(model._meta.label_lower, state, start.isoformat(), end.isoformat())
    return count


def replay_run(label: str, state: str, start, end) -> int:
    """Run the replay (a worker's task): each job retried in a transaction
    of its own; how many were. Jobs retried meanwhile are skipped."""
    model = selectors.job_model(label)
    if model is None or state not in REPLAYABLE:
        return 0
    ids = list(
        replay_matches(model, state, start, end)
        .order_by("pk")
        .values_list("pk", flat=True)[:REPLAY_LIMIT]
    )
    retried = 0
    for pk in ids:
        with transaction.atomic():
            job = model.objects.select_for_update().filter(pk=pk, status=state).first()
            if job is not None and _retry(job):
                retried += 1
    return retried


# The last hour: attempts ended per minute, and how long jobs waited


@dataclass
class Minute:
    at: object  # The minute's start (a datetime).
    succeeded: int = 0
    retried: int = 0  # Failed, or cut off, with another attempt to come.
    failed: int = 0

    @property
    def total(self) -> int:
        return self.succeeded + self.retried + self.failed


@dataclass
class TypeHour:
    label: str
    name: str
    succeeded: int = 0
    retried: int = 0
    failed: int = 0
    # Seconds from publish to a worker's claim, over the hour's attempts.
    wait_p50: float | None = None
    wait_p95: float | None = None
    wait_max: float | None = None

    @property
    def total(self) -> int:
        return self.succeeded + self.retried + self.failed


@dataclass
class LastHour:
    minutes: list[Minute]
    peak: int
    types: list[TypeHour]

    @property
    def active_types(self) -> list[TypeHour]:
        """The types that ended an attempt in the hour: the table's rows."""
        return [type_ for type_ in self.types if type_.total]

    @property
    def idle_types(self) -> list[TypeHour]:
        return [type_ for type_ in self.types if not type_.total]


OUTCOME_COLUMN = {
    JobAttempt.Outcome.SUCCEEDED: "succeeded",
    JobAttempt.Outcome.RETRY: "retried",
    JobAttempt.Outcome.INTERRUPTED: "retried",
    JobAttempt.Outcome.FAILED: "failed",
}
# Waits read for the percentiles at most (the newest).
WAIT_SAMPLE = 20_000


def last_hour(now=None, *, kind: str = "") -> LastHour:
    """Attempts that ended in each of the last 60 minutes, by outcome (of one
    job type, or all), and each type's totals and queue-wait percentiles."""
    now = now or timezone.now()
    start = (now - timedelta(minutes=59)).replace(second=0, microsecond=0)
    models = {
        ContentType.objects.get_for_model(model).pk: model
        for model in selectors.job_models()
    }
    minutes = {
        start + timedelta(minutes=n): Minute(start + timedelta(minutes=n))
        for n in range(60)
    }
    types = {
        pk: TypeHour(model._meta.label_lower, selectors.job_type_name(model))
        for pk, model in models.items()
    }
    ended = (
        JobAttempt.objects.filter(finished_at__gte=start, job_type__in=list(models))
        .annotate(minute=TruncMinute("finished_at"))
        .values_list("job_type", "minute", "outcome")
        .annotate(count=Count("pk"))
        .order_by()
    )
    for job_type, minute, outcome, count in ended:
        column = OUTCOME_COLUMN.get(outcome)
        if column is None:
            continue
        setattr(types[job_type], column, getattr(types[job_type], column) + count)
        if kind in ("", types[job_type].label) and minute in minutes:
            bar = minutes[minute]
            setattr(bar, column, getattr(bar, column) + count)
    waits: dict[int, list[float]] = {}
    for job_type, waited in (
        JobAttempt.objects.filter(started_at__gte=start, waited_seconds__isnull=False)
        .order_by("-started_at")
        .values_list("job_type", "waited_seconds")[:WAIT_SAMPLE]
    ):
        waits.setdefault(job_type, []).append(waited)
    for job_type, values in waits.items():
        if job_type in types:
            values.sort()
            figures = types[job_type]
            figures.wait_p50 = _percentile(values, 50)
            figures.wait_p95 = _percentile(values, 95)
            figures.wait_max = values[-1]
    bars = list(minutes.values())
    return LastHour(
        minutes=bars,
        peak=max((bar.total for bar in bars), default=0),
        types=sorted(types.values(), key=lambda t: t.name),
    )


def _percentile(ordered: list[float], percent: int) -> float:
    """The nearest-rank percentile of sorted values."""
    rank = max(math.ceil(percent / 100 * len(ordered)), 1)
    return ordered[rank - 1]


# The beat schedule


@dataclass
class ScheduleEntry:
    task: object  # A django_celery_beat PeriodicTask.
    next_run_at: object  # A datetime, or None when disabled.
    last_result: str


def schedule(now=None) -> list[ScheduleEntry]:
    """The beat schedule as beat runs it (django-celery-beat's rows), each
    entry with its next run and what its last run did."""
    from django_celery_beat.models import PeriodicTask

    now = now or timezone.now()
    entries = []
    for task in PeriodicTask.objects.select_related(
        "interval", "crontab", "solar", "clocked"
    ).order_by("name"):
        next_run_at = None
        if task.enabled:
            remaining = task.schedule.remaining_estimate(task.last_run_at or now)
            next_run_at = max(now + remaining, now)
        entries.append(ScheduleEntry(task, next_run_at, last_result(task.task)))
    return entries


def last_result(task_name: str) -> str:
    """What the task's last stored run returned ("Deleted 3 notifications."),
    or "—" if none is stored (a task whose result is not kept)."""
    from django_celery_results.models import TaskResult

    result = (
        TaskResult.objects.filter(task_name=task_name)
        .order_by("-date_done")
        .only("status", "result", "date_done")
        .first()
    )
    if result is None:
        return "—"
    if result.status != "SUCCESS":
        return f"{result.status} at {result.date_done:%Y-%m-%d %H:%M} UTC"
    try:
        outcome = json.loads(result.result)
    except (TypeError, ValueError):
        outcome = result.result
    return f"{outcome} ({result.date_done:%Y-%m-%d %H:%M} UTC)"


def schedule_run_now(pk: int, *, user) -> bool:
    """Send an entry's task now, as beat would; False if there is no such
    entry."""
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.filter(pk=pk).first()
    if task is None:
        return False
    current_app.send_task(
        task.task,
        args=json.loads(task.args or "[]"),
        kwargs=json.loads(task.kwargs or "{}"),
    )
    record(user, "ran now", f"{task.name} ({task.task})")
    return True


def last_sweep() -> SweeperRun | None:
    return SweeperRun.objects.filter(pk=1).first()


# The action log


def record(user, action: str, target: str, *, count: int = 1) -> OperatorAction:
    return OperatorAction.objects.create(
        user=user, action=action, target=target[:300], count=count
    )


def recent_actions(limit: int = 20) -> list[OperatorAction]:
    return list(OperatorAction.objects.select_related("user")[:limit])
