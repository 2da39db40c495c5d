"""
The benchmark tasks on our app, config.celery.app, with all its settings.

Our worker loads them with `--include bench.tasks`. They go to their own
queues so that they never mix with the project's quick, heavy and critical
work, and they declare time limits because the worker refuses to start with a
task the broker's visibility timeout cannot cover (config/celery.py).
"""

from bench import work
from config.celery import app

SIDE = "ours"
QUEUE = "bench"
# No worker consumes this queue: `delay()` is timed on publishing alone.
PARKED_QUEUE = "bench.parked"
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
