from contextlib import contextmanager

from kombu import pools

from config.celery import app


@contextmanager
def use_broker(url: str):
    """Publish to `url` for real, instead of running tasks eagerly."""
    conf = app.conf
    saved = conf.broker_url, conf.task_always_eager
    conf.broker_url, conf.task_always_eager = url, False
    _forget_connections()
    try:
        yield
    finally:
        _forget_connections()
        conf.broker_url, conf.task_always_eager = saved


def _forget_connections():
    # Not app.close(): that also deregisters the app, and tasks imported later
    # would no longer bind to it. kombu also caches producer pools per broker
    # URL, process-wide.
    app._pool = None
    app.amqp._producer_pool = None
    pools.reset()
