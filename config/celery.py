"""
The Celery app. Its configuration is the `# Celery` block of config/settings.py
(every CELERY_* setting), and it finds each app's tasks.py by itself.
"""

import logging
import os
import time

from celery import Celery, platforms, signals
from celery.apps.beat import Beat
from kombu import transport
from kombu.utils.objects import cached_property

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# The broker of `make run` without Redis (config/broker_files.py).
transport.TRANSPORT_ALIASES["localfiles"] = "config.broker_files:Transport"


class BeatStoppingBetweenTicks(Beat):
    """`celery beat`, which on SIGTERM or SIGINT finishes its tick, saves the
    schedule and exits 0, within its max interval (5 s).

    Celery's own handler saves the schedule inside the signal handler. When
    the signal lands while beat is in a database query (loading the schedule
    at start-up, or a tick), that save runs on the same connection, whose lock
    the interrupted query holds (psycopg 3), and beat hangs until it is
    killed. This handler only asks the loop to stop; the loop then saves the
    schedule as it ends. It is installed before the scheduler first touches
    the database, so there is no moment when Celery's handler is in place.
    """

    def install_sync_handler(self, service):
        def stop(signum, frame):
            service._is_shutdown.set()

        platforms.signals.update(SIGTERM=stop, SIGINT=stop)


class App(Celery):
    @cached_property
    def Beat(self):
        return self.subclass_with_self(BeatStoppingBetweenTicks)


app = App("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def refuse_unsafe_limits(**kwargs):
    """Stop a worker or beat from starting with limits the broker cannot honour.

    A task that runs, or waits for a retry, longer than the broker's visibility
    timeout is handed to a second worker while the first still holds it.
    """
    from apps.core.checks import celery_limit_errors

    errors = celery_limit_errors(app)
    if errors:
        # SystemExit, not an exception: Celery logs and ignores exceptions
        # raised by signal handlers, and the worker would start anyway.
        raise SystemExit(
            "Refusing to start: " + "; ".join(error.msg for error in errors)
        )


SWEEP_TASK = "apps.core.tasks.jobs_sweep"


class QuietRoutineSweeps(logging.Filter):
    """Leave out the lines beat and the worker log for every sweep (every few
    seconds, mostly finding nothing); the sweeper logs each job it republishes
    itself, and warnings and errors about it still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.INFO or SWEEP_TASK not in record.getMessage()


@signals.after_setup_logger.connect
def quiet_routine_sweeps(logger, **kwargs):
    for handler in logger.handlers:
        handler.addFilter(QuietRoutineSweeps())


@signals.before_task_publish.connect
def stamp_publish_time(headers=None, **kwargs):
    """Every message says when it was published, so that the operations page
    can tell how long the oldest message of a queue has waited."""
    if headers is not None:
        headers.setdefault("published_at", time.time())


@signals.worker_ready.connect
def keep_paused_queues_paused(sender=None, **kwargs):
    """A worker that starts while an operator has a queue paused (the
    operations page) leaves that queue alone until it is resumed."""
    from apps.core.operations import paused_queues

    try:
        paused = paused_queues()
    except Exception:  # No database yet: nothing can have been paused.
        logging.getLogger(__name__).exception("Could not read the paused queues")
        return
    for queue in paused:
        sender.cancel_task_queue(queue)
