"""
The bodies of the benchmark tasks, shared by both apps.

bench.tasks (our app) and bench.bare (the bare app) wrap these same functions
in tasks of the same shape, so any difference in the figures comes from the
apps' configuration, not from the work. Each app writes its own Redis keys, so
both workers can run at once on one Redis.
"""

import functools
import os
import time

import redis


def latency_key(side: str) -> str:
    return f"bench:{side}:pickup"


def counter_key(side: str) -> str:
    return f"bench:{side}:count"


@functools.cache
def client() -> redis.Redis:
    # Made on first use, so each worker child opens its own connection after the
    # fork instead of sharing its parent's socket.
    return redis.Redis.from_url(os.environ["REDIS_URL"])


def record_pickup(side: str, sent: float) -> None:
    # Read the clock first: the figure is enqueue to task start, not to the end.
    waited = time.time() - sent
    client().rpush(latency_key(side), waited)


def count(side: str) -> None:
    client().incr(counter_key(side))
