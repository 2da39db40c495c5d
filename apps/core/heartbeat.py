"""
The heartbeat of a running job: a thread beside the task that renews the job's
lease every JOB_HEARTBEAT_INTERVAL seconds, so that a task busy in one long
call (a slow gateway, a big render) is not taken for dead. When the worker
process dies, the heartbeat dies with it and the lease lapses: that is how
the sweeper tells a dead worker's job from a slow one.
"""

import logging
import threading
from contextlib import contextmanager

from django.conf import settings
from django.db import connections

from apps.core import services
from apps.core.models import Job

logger = logging.getLogger(__name__)


@contextmanager
def heartbeat(job: Job):
    """Renew `job`'s lease in the background while the block runs."""
    stop = threading.Event()
    thread = threading.Thread(
        target=_beat,
        args=(job, stop, settings.JOB_HEARTBEAT_INTERVAL),
        name=f"heartbeat-{job._meta.label_lower}-{job.pk}",
        daemon=True,
    )
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _beat(job: Job, stop: threading.Event, interval: float) -> None:
    try:
        while not stop.wait(interval):
            if not services.job_heartbeat(job):
                return  # Ended, or taken over by another attempt.
    except Exception:  # A missed beat must not kill the task; the lease says it.
        logger.exception("Heartbeat of %s %s failed", type(job).__name__, job.pk)
    finally:
        # This thread's own database connection.
        connections.close_all()
