"""
The one task base every job runs on. A job task is a few lines:

    @job_task(Payment, give_up=services.payment_give_up)
    def payment_process(payment: Payment) -> None:
        services.payment_process(payment=payment)

The task receives the row's id and the base does the rest, the same way for
every job type: it loads the row (a row deleted after enqueue means nothing to
do), claims it for this attempt, keeps its lease alive with a heartbeat, runs
the work, and turns how the work ended into the row's state:

- returned: succeeded (unless the work ended the row itself);
- RetryLater: a Celery retry after the countdown the row chose;
- JobCancelled: cancelled, at the checkpoint where it was noticed;
- AttemptsExhausted: the job's give-up hook (by default: failed);
- SoftTimeLimitExceeded: the give-up hook, saying it took too long;
- anything else: the give-up hook, with a message a user can read, and the
  traceback in the log.

Every way the job can end failed goes through the one give-up hook, so a job
type that must settle something first (a payment asks the gateway whether
the card was charged) does it in one place.
"""

import logging
import traceback
from collections.abc import Callable
from contextlib import nullcontext

from celery import Task, shared_task, signals
from celery.exceptions import SoftTimeLimitExceeded

from apps.core import cancel, logs, selectors, services
from apps.core.exceptions import (
    AttemptsExhausted,
    JobCancelled,
    JobTakenOver,
    RetryLater,
)
from apps.core.heartbeat import heartbeat
from apps.core.models import Job

logger = logging.getLogger(__name__)

UNEXPECTED_FAILURE = (
    "Something went wrong on our side; we have been told. You can try again."
)
TIMED_OUT = "This took longer than the {limit} seconds we allow, so we stopped it."


def give_up_by_failing(job: Job, *, message: str, detail: str = "") -> None:
    """The default give-up hook: the job fails with the message."""
    services.job_fail(job, message=message, detail=detail)


class JobTask(Task):
    """Runs one attempt of a job of `model` with `work`; see the module docstring."""

    model: type[Job]
    work: Callable[[Job], None]
    give_up: Callable[..., None]

    def run_job(self, job_id: int) -> None:
        job = self.model.objects.filter(pk=job_id).first()
        if job is None:
            logger.info("%s %s is gone: nothing to do", self.model.__name__, job_id)
            return
        if job.is_final:
            return  # A duplicate or late message: the job is over.
        try:
            self._attempt(job)
        except JobTakenOver:
            # Its lease lapsed while it was still alive and another attempt
            # holds the job now (or the row was deleted): hands off.
            logger.warning(
                "%s %s is no longer held by task %s (taken over or deleted); it stops",
                self.model.__name__,
                job.pk,
                self.request.id,
            )

    def _attempt(self, job: Job) -> None:
        """Claim the job, run the work, and end the attempt as it ended."""
        request = self.request
        try:
            if not services.job_start(
                job,
                task_id=request.id,
                redelivered=bool((request.delivery_info or {}).get("redelivered")),
                worker=request.hostname or "",
            ):
                return  # Another delivery holds it, or it is not due yet.
            # Eager runs (tests) share the caller's transaction: no thread.
            in_worker = not (request.is_eager or request.called_directly)
            with heartbeat(job) if in_worker else nullcontext():
                self.work(job)
        except RetryLater as exc:
            raise self.retry(countdown=exc.countdown, exc=exc) from exc
        except AttemptsExhausted as exc:
            self._give_up(job, message=exc.message, detail=exc.detail)
        except JobCancelled:
            cancel.job_end_cancelled(job)
            logger.info("%s %s cancelled", self.model.__name__, job.pk)
        except JobTakenOver:
            raise
        except SoftTimeLimitExceeded:
            logger.warning(
                "%s %s (task %s) hit its soft time limit",
                self.model.__name__,
                job.pk,
                request.id,
            )
            self._give_up(
                job,
                message=TIMED_OUT.format(limit=self.model.soft_time_limit),
                detail="SoftTimeLimitExceeded",
            )
        except Exception:
            logger.exception(
                "%s %s (task %s) failed unexpectedly",
                self.model.__name__,
                job.pk,
                request.id,
            )
            self._give_up(
                job, message=UNEXPECTED_FAILURE, detail=traceback.format_exc()
            )
        else:
            if self._still_ours(job):  # Unless the work ended the row itself.
                services.job_succeed(job)

    def _give_up(self, job: Job, *, message: str, detail: str = "") -> None:
        """End the job failed through its give-up hook, which may settle it
        another way (a payment asks the gateway whether the card was charged).

        Should the hook itself fail (the gateway is still down), the job is
        not ended half settled: it is released, and the sweeper hands it to
        another attempt, which tries again.
        """
        # Read the row again (what the work wrote before it failed may have
        # been rolled back), making sure this attempt still holds it.
        held_by = job.task_id
        try:
            job.refresh_from_db()
        except self.model.DoesNotExist:
            raise JobTakenOver from None
        if job.task_id != held_by or job.status != Job.Status.RUNNING:
            raise JobTakenOver
        try:
            self.give_up(job, message=message, detail=detail)
        except JobTakenOver:
            raise
        except Exception:
            logger.exception(
                "The give-up hook of %s %s failed; it is released for another try",
                self.model.__name__,
                job.pk,
            )
            services.job_release(
                job, error=message, detail=f"{detail}\n{traceback.format_exc()}"
            )

    def _still_ours(self, job: Job) -> bool:
        """Running and held by this attempt: not ended by the work."""
        return selectors.job_row_held(job).exists()


def job_task(
    model: type[Job], *, give_up: Callable[..., None] = give_up_by_failing, **options
):
    """Make `work(job)` the Celery task that runs `model`'s jobs.

    The task is a shared_task, so it publishes through the current Celery app:
    the project's (config.celery), the only one a web or worker process has.
    The task is named after `work` (module.name), takes the job's id, and gets
    its time limits from the model; attempts are capped on the row, so Celery's
    own retry cap is off. `give_up(job, message=..., detail=...)` ends a job
    that has used all its attempts, or hit a bug or its time limit; payments,
    for one, first ask the gateway.
    """

    def decorator(work: Callable[[Job], None]) -> JobTask:
        def run(self, job_id: int) -> None:
            self.run_job(job_id)

        # Celery names the task after the function it wraps.
        run.__module__, run.__name__ = work.__module__, work.__name__
        run.__qualname__, run.__doc__ = work.__qualname__, work.__doc__
        return shared_task(
            bind=True,
            base=JobTask,
            model=model,
            work=staticmethod(work),
            give_up=staticmethod(give_up),
            max_retries=None,
            soft_time_limit=model.soft_time_limit,
            time_limit=model.time_limit,
            **options,
        )(run)

    return decorator


# Every log line of a job's task names the job (apps.core.logs), Celery's own
# included: from before the task starts to after its "succeeded in" or
# "raised" line, which Celery writes once the task's code has returned.


@signals.task_prerun.connect
def _log_lines_name_the_job(sender=None, args=(), **kwargs) -> None:
    if isinstance(sender, JobTask) and args:
        logs.current_job.set((sender.model._meta.label_lower, args[0]))


@signals.task_postrun.connect
def _log_lines_name_no_job(sender=None, **kwargs) -> None:
    logs.current_job.set(None)
