"""
What the job kit (apps.core) costs per job, against the naive way, on one
worker and one database.

Both sides run the test-only SampleJob (tests.jobkit) with its defaults: plan
"ok" and no steps, so the work is one UPDATE that bumps `effects`.

- ours: the real path. sample_job_start creates the row and, once that
  commits, publishes the kit's task with the task id stored on the row. The
  task claims the row with a conditional UPDATE, opens a JobAttempt, starts
  and stops the heartbeat thread, runs the work, ends the row succeeded with
  a fenced UPDATE and closes the attempt.
- bare: the naive way of most tutorials. Create the row, `delay()` a plain
  task with its id (bench.tasks.naive_job_run), which loads the row and marks
  it running, then succeeded: two plain UPDATEs.

Figures:

- roundtrip_ms: from just before the row is created to the moment its task
  marks it succeeded (the row's finished_at, which both sides write in the
  UPDATE that makes the row final), one job at a time; the median.
- throughput_per_s: `n` jobs created and published at once, as fast as the
  caller can, divided by the time from the first creation to the last row's
  finished_at; the median of `rounds` rounds.

Reading finished_at from the rows rather than timing the polls keeps the poll
interval out of the figures; the caller and the worker read one clock. The
sides take turns as in bench.measure, and each figure is checked: every job
succeeded, its work ran once, and only ours recorded an attempt.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db.models import Max

from apps.core.models import JobAttempt
from bench import tasks
from bench.measure import in_turns, wait_for
from config.celery import app
from tests.jobkit import services as sample_services
from tests.jobkit.models import SampleJob

SUCCEEDED = SampleJob.Status.SUCCEEDED
OWNER_EMAIL = "bench@example.com"


@dataclass(frozen=True)
class JobSide:
    """One way of running a job: `start(owner)` creates the row and publishes;
    `keeps_attempts` says whether the task records a JobAttempt."""

    name: str
    start: Callable[..., SampleJob]
    keeps_attempts: bool


def kit_start(owner) -> SampleJob:
    return sample_services.sample_job_start(owner=owner)


def naive_start(owner) -> SampleJob:
    # Autocommit: the row is committed before the task is published.
    job = SampleJob.objects.create(owner=owner)
    tasks.naive_job_run.delay(job.pk)
    return job


SIDES = [JobSide("ours", kit_start, True), JobSide("bare", naive_start, False)]


def bench_owner():
    """The user who owns every benchmark job (a job row needs an owner)."""
    return get_user_model().objects.create_user(OWNER_EMAIL)


def check_queue() -> None:
    """Refuse to time anything if the kit's task would go to a queue other
    than the naive task's, which is the one the worker consumes."""
    kit_queue = app.amqp.router.route({}, SampleJob.task_name)["queue"].name
    if kit_queue != tasks.JOB_QUEUE:
        raise RuntimeError(
            f"{SampleJob.task_name} goes to queue {kit_queue!r}, not "
            f"{tasks.JOB_QUEUE!r}: set bench.tasks.JOB_QUEUE to it"
        )


def wait_final(ids: list[int], *, interval: float) -> None:
    wait_for(
        lambda: (
            SampleJob.objects.filter(pk__in=ids, status=SUCCEEDED).count() >= len(ids)
        ),
        timeout=60,
        interval=interval,
        what=f"{len(ids)} sample jobs to succeed",
    )


def check_jobs(side: JobSide, ids: list[int]) -> None:
    """Every job succeeded, its work ran once, and only ours kept attempts."""
    jobs = SampleJob.objects.filter(pk__in=ids)
    if jobs.exclude(status=SUCCEEDED, effects=1).exists():
        raise RuntimeError(f"a {side.name} sample job did not succeed exactly once")
    attempts = JobAttempt.objects.filter(
        job_type=ContentType.objects.get_for_model(SampleJob),
        job_id__in=ids,
        outcome=JobAttempt.Outcome.SUCCEEDED,
    ).count()
    expected = len(ids) if side.keeps_attempts else 0
    if attempts != expected:
        raise RuntimeError(f"{side.name} recorded {attempts} attempts, not {expected}")


def warm_up(owner, n: int = 10) -> None:
    """Run a few jobs of each side, so that first-use costs (imports, caches,
    connections) stay out of the figures."""
    for side in SIDES:
        ids = [side.start(owner).pk for _ in range(n)]
        wait_final(ids, interval=0.01)
        check_jobs(side, ids)


def roundtrip_ms(owner, n: int = 60, gap: float = 0.005) -> dict[str, float]:
    """Median milliseconds from creating a job to its row being final."""
    sent = {side.name: {} for side in SIDES}
    for side in in_turns(SIDES, n):
        started = time.time()
        job = side.start(owner)
        sent[side.name][job.pk] = started
        wait_final([job.pk], interval=0.002)
        # Let the worker finish the task (the kit closes the attempt after
        # the row is final; then the ack), so that each job finds it idle.
        time.sleep(gap)
    medians = {}
    for side in SIDES:
        ids = list(sent[side.name])
        check_jobs(side, ids)
        finished = SampleJob.objects.filter(pk__in=ids).values_list("pk", "finished_at")
        waits = [(at.timestamp() - sent[side.name][pk]) * 1000 for pk, at in finished]
        medians[side.name] = statistics.median(waits)
    return medians


def throughput_per_s(owner, n: int = 100, rounds: int = 3) -> dict[str, float]:
    """Jobs per second through the one-process worker when they pile up."""
    rates = {side.name: [] for side in SIDES}
    for side in in_turns(SIDES, rounds):
        started = time.time()
        ids = [side.start(owner).pk for _ in range(n)]
        # The figure is read from the rows, so the poll may be lazy and leave
        # the CPU to the worker.
        wait_final(ids, interval=0.05)
        check_jobs(side, ids)
        last = SampleJob.objects.filter(pk__in=ids).aggregate(Max("finished_at"))
        rates[side.name].append(n / (last["finished_at__max"].timestamp() - started))
        time.sleep(0.1)  # The last task's tail, as in roundtrip_ms.
    return {name: statistics.median(values) for name, values in rates.items()}
