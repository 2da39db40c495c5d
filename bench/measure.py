"""
The three task measurements, run the same way for both apps ("sides"); the
job kit's rows are measured in bench.jobs.

- delay_call_us: what a caller (a web request) pays per `delay()`: routing,
  serialising and publishing, with no worker taking the messages.
- pickup_latency_ms: how long a job waits between enqueue and task start, with
  tasks sent one at a time so that nothing queues behind another.
- noop_throughput: how many tasks a one-process worker gets through when they
  pile up, where acks_late and the prefetch multiplier count most.

The machine may be busy with other work while this runs, and a burst of it
would land on whichever side was being timed. So the sides take turns: the
timed figures are measured in short rounds in the order ours, bare, bare,
ours, ... and each side's figure is the median of its rounds; the pickups of
both sides are sent interleaved.
"""

import math
import statistics
import time
from dataclasses import dataclass
from types import ModuleType

from celery import Task

from bench import work


@dataclass(frozen=True)
class Side:
    """One app under test: its tasks and the queue its no-op is parked on."""

    name: str
    noop: Task
    pickup: Task
    count: Task
    parked_queue: str

    @classmethod
    def of(cls, module: ModuleType) -> "Side":
        """The side whose tasks `module` (bench.tasks or bench.bare) defines."""
        return cls(
            module.SIDE, module.noop, module.pickup, module.count, module.PARKED_QUEUE
        )


def wait_for(condition, *, timeout: float, what: str, interval: float = 0.002) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        # Short by default, so that the poll adds little to the throughput
        # timing.
        time.sleep(interval)


def counted(side: Side) -> int:
    return int(work.client().get(work.counter_key(side.name)) or 0)


def in_turns(sides: list[Side], rounds: int):
    """The sides in the order A B B A A B ..., so that neither side is always
    the one timed first, or always right after the other."""
    for i in range(rounds):
        yield from sides if i % 2 == 0 else reversed(sides)


def warm_up(side: Side, n: int = 20) -> None:
    """Run a few of each task, so that the figures leave out first-use costs
    (imports, connections, the pool child's first task)."""
    redis = work.client()
    keys = (work.counter_key(side.name), work.latency_key(side.name))
    redis.delete(*keys)
    for _ in range(n):
        side.pickup.delay(time.time())
        side.count.delay()
    wait_for(
        lambda: counted(side) >= n and redis.llen(keys[1]) >= n,
        timeout=30,
        what=f"the {side.name} warm-up tasks",
    )
    redis.delete(*keys)


def delay_call_us(
    sides: list[Side], calls: int = 2000, rounds: int = 8, warmup: int = 200
) -> dict[str, float]:
    """Mean microseconds per `delay()` of the no-op task: `calls` per side in
    `rounds` rounds, the median of the rounds' means."""
    per_round = calls // rounds
    means = {side.name: [] for side in sides}
    for side in sides:
        for _ in range(warmup):
            side.noop.delay()
    for side in in_turns(sides, rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            side.noop.delay()
        means[side.name].append((time.perf_counter() - start) / per_round * 1e6)
    for side in sides:
        # Check the messages really reached Redis, then drop them.
        parked = work.client().llen(side.parked_queue)
        expected = warmup + per_round * rounds
        if parked != expected:
            raise RuntimeError(f"{side.parked_queue} holds {parked}, not {expected}")
        work.client().delete(side.parked_queue)
    return {name: statistics.median(values) for name, values in means.items()}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile: a value that was actually measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def pickup_latency_ms(
    sides: list[Side], n: int = 200, gap: float = 0.005
) -> tuple[dict[str, float], dict[str, float]]:
    """p50 and p95 milliseconds from publish to task start, `n` per side."""
    redis = work.client()
    keys = {side.name: work.latency_key(side.name) for side in sides}
    redis.delete(*keys.values())
    for side in in_turns(sides, n):
        side.pickup.delay(time.time())
        # The gap is longer than a pickup takes, so each task finds its
        # worker idle: this measures latency, not a queue.
        time.sleep(gap)
    p50, p95 = {}, {}
    for name, key in keys.items():
        wait_for(lambda key=key: redis.llen(key) >= n, timeout=30, what=key)
        waits = [float(value) * 1000 for value in redis.lrange(key, 0, -1)]
        p50[name], p95[name] = percentile(waits, 50), percentile(waits, 95)
    return p50, p95


def noop_throughput(
    sides: list[Side], n: int = 1000, rounds: int = 3
) -> dict[str, float]:
    """Tasks per second, from the first publish until the n-th task has run;
    the median of `rounds` rounds per side.

    The worker starts on the first messages while the rest are published, as
    it would in production; publishing takes a small part of the time.
    """
    rates = {side.name: [] for side in sides}
    for side in in_turns(sides, rounds):
        work.client().delete(work.counter_key(side.name))
        start = time.perf_counter()
        for _ in range(n):
            side.count.delay()
        wait_for(
            lambda side=side: counted(side) >= n,
            timeout=60,
            what=f"{n} {side.name} no-ops",
        )
        rates[side.name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}
