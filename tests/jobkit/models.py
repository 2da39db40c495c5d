from django.db import models

from apps.core.models import Job


class SampleJob(Job):
    """A job that does what its row says, to test apps.core on a job of its own.

    `plan` lists what each attempt does, one word an attempt ("retry,retry,ok";
    the last word repeats): ok, retry (a transient error), fail (a permanent
    one), raise (a bug), slow (past the soft time limit), soft-limit (as if
    Celery raised it there). Before that, each
    attempt takes `steps` steps of `step_seconds`, reporting progress at each.
    `effects` counts the side effect of a successful attempt.
    """

    task_name = "tests.jobkit.tasks.sample_job_run"
    max_attempts = 3
    retry_backoff = 1
    retry_backoff_max = 2
    soft_time_limit = 4
    time_limit = 6
    cancellable_statuses = (
        Job.Status.QUEUED,
        Job.Status.RETRYING,
        Job.Status.RUNNING,
    )

    plan = models.CharField(max_length=200, default="ok")
    steps = models.PositiveSmallIntegerField(default=0)
    step_seconds = models.FloatField(default=0)
    effects = models.PositiveIntegerField(default=0)

    class Meta(Job.Meta):
        pass
