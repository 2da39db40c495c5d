"""
The sweeper: finds jobs that nobody is running and publishes them again.

Enqueue-after-commit cannot catch everything: the broker may be down at
publish time, a message may be lost with a Redis restart, and a worker may be
killed mid-task or while it holds a retry. Beat runs the sweep every
JOB_SWEEP_INTERVAL seconds (apps.core.tasks.jobs_sweep); a running job whose
lease lapsed is handed to another worker within about 20 s.
"""

import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core import operations, selectors, services
from apps.core.models import Job, SweeperRun

logger = logging.getLogger(__name__)

# What the page says while the job waits for the sweeper's message.
WORKER_LOST = "The worker stopped answering; another one will take over."
RETRY_WAITING_FOR_WORKER = "Waiting for a worker to retry it."


def jobs_sweep() -> int:
    """Publish again every job stuck past its lease; return how many.

    A job is republished once when it is found stuck, then, while no worker
    takes it (all are down), only every JOB_QUEUED_LEASE seconds: an outage
    must not fill the queue with copies of the same message.
    """
    now = timezone.now()
    queued_lease = now - timedelta(seconds=settings.JOB_QUEUED_LEASE)
    retry_grace = now - timedelta(seconds=settings.JOB_RETRY_GRACE)
    swept = 0
    # A queued job whose queue an operator paused is waiting on purpose:
    # publishing it again would only pile copies into the paused queue.
    paused = operations.paused_queues()
    for model in selectors.job_models():
        queued_too_long = Q(status=Job.Status.QUEUED, enqueued_at__lt=queued_lease)
        slow = model.slow_queue()
        if slow:
            rows, seconds = slow
            queued_too_long = (queued_too_long & ~rows) | Q(
                rows,
                status=Job.Status.QUEUED,
                enqueued_at__lt=now - timedelta(seconds=seconds),
            )
        stuck = model.objects.filter(
            queued_too_long
            | Q(status=Job.Status.QUEUED, enqueued_at__isnull=True)
            | (
                Q(status=Job.Status.RETRYING, next_retry_at__lt=retry_grace)
                # Not yet republished since the retry fell due, or long ago.
                & (
                    Q(enqueued_at__lt=F("next_retry_at"))
                    | Q(enqueued_at__lt=queued_lease)
                    | Q(enqueued_at__isnull=True)
                )
            )
            | (
                selectors.lease_lapsed(now)
                # Not yet republished since the worker's last sign of life.
                & (
                    Q(enqueued_at__lt=F("heartbeat_at"))
                    | Q(enqueued_at__lt=queued_lease)
                    | Q(enqueued_at__isnull=True)
                    | Q(heartbeat_at__isnull=True, started_at__lt=queued_lease)
                )
            )
        )
        for job in stuck.order_by("pk")[:500]:
            if paused and job.status == Job.Status.QUEUED and _queue_of(job) in paused:
                continue
            stage = {
                Job.Status.RUNNING: WORKER_LOST,
                Job.Status.RETRYING: RETRY_WAITING_FOR_WORKER,
            }.get(job.status, job.stage)
            with transaction.atomic():
                republished = services.job_republish(job, stage=stage)
            if republished:
                logger.info(
                    "Sweeper republished %s %s (%s)", model.__name__, job.pk, job.status
                )
                swept += 1
    _record(now, swept)
    return swept


def _queue_of(job: Job) -> str:
    return current_app.amqp.router.route({}, job.row_task_name())["queue"].name


def _record(now, swept: int) -> None:
    """Keep what this run did for the operations page (one row)."""
    found = {"last_found_at": now, "last_found": swept} if swept else {}
    SweeperRun.objects.update_or_create(
        pk=1, defaults={"at": now, "republished": swept, **found}
    )
