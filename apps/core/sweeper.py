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

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.core import selectors
from apps.core.models import Job
from apps.core.services import job_enqueue

logger = logging.getLogger(__name__)

# What the page says while the job waits for the sweeper's message.
WORKER_LOST = "The worker stopped answering; another one will take over."
RETRY_WAITING_FOR_WORKER = "Waiting for a worker to retry it."


def jobs_sweep() -> int:
    """Publish again every job stuck past its lease; return how many.

    Catches what enqueue-after-commit cannot: a broker that was down at publish
    time, a message lost with a Redis restart, a worker killed mid-task or
    while it held a retry. Each branch also waits after the last publish, so
    a job the sweeper just published is not published again at the next sweep.
    """
    now = timezone.now()
    queued_lease = now - timedelta(seconds=settings.JOB_QUEUED_LEASE)
    retry_grace = now - timedelta(seconds=settings.JOB_RETRY_GRACE)
    swept = 0
    for model in selectors.job_models():
        stuck = model.objects.filter(
            Q(status=Job.Status.QUEUED, enqueued_at__lt=queued_lease)
            | Q(status=Job.Status.QUEUED, enqueued_at__isnull=True)
            | Q(
                status=Job.Status.RETRYING,
                next_retry_at__lt=retry_grace,
                enqueued_at__lt=retry_grace,
            )
            | Q(
                status=Job.Status.RUNNING,
                lease_expires_at__lt=now,
                enqueued_at__lt=now - timedelta(seconds=model.lease_seconds),
            )
        )
        for job in stuck.order_by("pk")[:500]:
            logger.info(
                "Sweeper re-enqueues %s %s (%s)", model.__name__, job.pk, job.status
            )
            with transaction.atomic():
                if job.status == Job.Status.RUNNING:
                    job.stage = WORKER_LOST
                elif job.status == Job.Status.RETRYING:
                    job.stage = RETRY_WAITING_FOR_WORKER
                job.save(update_fields=["stage"])
                job_enqueue(job)
            swept += 1
    return swept
