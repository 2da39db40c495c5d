"""
The benchmark tasks on our app, config.celery.app, with all its settings.

Our worker loads them with `--include bench.tasks`. The task benchmarks go to
their own queues so that they never mix with the project's quick, heavy and
critical work, and they declare time limits because the worker refuses to
start with a task the broker's visibility timeout cannot cover
(config/celery.py).

`naive_job_run` is the baseline of the job kit's rows (bench.jobs): it runs a
test-only SampleJob (tests.jobkit) the way most tutorials run a job row, next
to the kit's own task for that job type on the same worker.
"""

from django.utils import timezone

from bench import work
from config.celery import app
from tests.jobkit import services as sample_services
from tests.jobkit.models import SampleJob

SIDE = "ours"
QUEUE = "bench"
# No worker consumes this queue: `delay()` is timed on publishing alone.
PARKED_QUEUE = "bench.parked"
# Where SampleJob's own task goes: no route names it, so the default queue
# (bench.jobs checks it). The naive task waits in the same queue, so both
# sides of the job rows differ only in how the task runs the job.
JOB_QUEUE = "quick"
LIMITS = {"soft_time_limit": 5, "time_limit": 10}


@app.task(queue=PARKED_QUEUE, **LIMITS)
def noop() -> None:
    pass


@app.task(queue=QUEUE, **LIMITS)
def pickup(sent: float) -> None:
    work.record_pickup(SIDE, sent)


@app.task(queue=QUEUE, **LIMITS)
def count() -> None:
    work.count(SIDE)


@app.task(queue=JOB_QUEUE, **LIMITS)
def naive_job_run(job_id: int) -> None:
    """Run a SampleJob without the kit: load it, mark it running, do the same
    work as the kit's task, mark it succeeded. Two plain UPDATEs: no claim, no
    attempt history, no lease or heartbeat, no fencing of the end."""
    job = SampleJob.objects.get(pk=job_id)
    SampleJob.objects.filter(pk=job_id).update(
        status=SampleJob.Status.RUNNING, started_at=timezone.now()
    )
    # The kit's work function. The row's plan is "ok", the word it picks for
    # any attempt number, including the 0 of a job the kit never counted.
    sample_services.sample_job_run(job=job)
    SampleJob.objects.filter(pk=job_id).update(
        status=SampleJob.Status.SUCCEEDED, finished_at=timezone.now()
    )
