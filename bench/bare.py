"""
The baseline: a bare Celery app with Celery's defaults and no result backend,
on the same Redis, with the same tasks as bench.tasks.

Its worker runs `celery -A bench.bare worker`. The broker URL comes from
REDIS_URL, which bench.__main__ sets to its private redis-server before this
module is imported.
"""

import os

from celery import Celery

from bench import work

# fixups=[]: Celery applies its Django fix-up to any app while
# DJANGO_SETTINGS_MODULE is set, as it is in the benchmark's own process. A
# bare app must not pay for Django.
# set_as_current=False: in the benchmark's process, the job kit's tasks
# (shared_task) publish through the current app, which must stay ours; by
# default each new app makes itself current. Its own worker sets it current.
app = Celery("bare", broker=os.environ["REDIS_URL"], fixups=[], set_as_current=False)

SIDE = "bare"
QUEUE = "bare"
# No worker consumes this queue: `delay()` is timed on publishing alone.
PARKED_QUEUE = "bare.parked"


@app.task(queue=PARKED_QUEUE)
def noop() -> None:
    pass


@app.task(queue=QUEUE)
def pickup(sent: float) -> None:
    work.record_pickup(SIDE, sent)


@app.task(queue=QUEUE)
def count() -> None:
    work.count(SIDE)
