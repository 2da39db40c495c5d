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
            try:
                if not services.job_heartbeat(job):
                    return  # Ended, or taken over by another attempt.
            except Exception:
                # A missed beat (database locked, connection dropped) is not
                # the end: try again at the next one, on a fresh connection.
                logger.warning(
                    "Heartbeat of %s %s missed",
                    type(job).__name__,
                    job.pk,
                    exc_info=True,
                )
                connections.close_all()
    finally:
        # This thread's own database connections.
        connections.close_all()
