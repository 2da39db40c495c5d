"""
The Celery app. Its configuration is the `# Celery` block of config/settings.py
(every CELERY_* setting), and it finds each app's tasks.py by itself.
"""

import logging
import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
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


@signals.beat_init.connect
def stop_beat_between_ticks(sender, **kwargs):
    """On SIGTERM or SIGINT, let beat finish its tick, save the schedule and
    exit 0, within its max interval (5 s).

    Celery's own handler saves the schedule inside the signal handler. When
    the signal lands while the tick is in a database query, that save runs on
    the same connection, whose lock the interrupted query holds (psycopg 3),
    and beat hangs until it is killed. Here the handler only asks the loop to
    stop; the loop then saves the schedule as it ends.
    """
    from celery import platforms

    def stop(signum, frame):
        sender._is_shutdown.set()

    platforms.signals.update(SIGTERM=stop, SIGINT=stop)


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
