"""
`python -m bench`: start a private redis-server and one worker per app, measure
both apps (see bench.measure), stop everything, print the table and write
var/bench.json.

Our worker runs as a deployment would: DEBUG off, a database migrated for the
django-db result backend (a throwaway SQLite file, var/bench.sqlite3), tasks
outside eager mode.
"""

import os
import subprocess
import sys
import time
from contextlib import ExitStack

from bench import report
from bench.processes import BASE_DIR, RedisServer, Worker

DATABASE = BASE_DIR / "var" / "bench.sqlite3"
RESULTS = BASE_DIR / "var" / "bench.json"


def fresh_database() -> None:
    for suffix in ("", "-wal", "-shm"):
        DATABASE.with_name(DATABASE.name + suffix).unlink(missing_ok=True)


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main() -> None:
    started = time.monotonic()
    # Other work on the machine lands on whichever side is being timed; the
    # turns in bench.measure even it out only partly, so say when there was
    # some. Read before the run, whose own processes raise the load.
    load_before, cores = os.getloadavg()[0], os.cpu_count() or 1
    with ExitStack() as cleanup:
        redis_server = RedisServer().start()
        cleanup.callback(redis_server.stop)
        say(f"redis-server on port {redis_server.port}")

        # Set before Django or either app is imported: settings.py and
        # bench.bare read them once, at import. Our worker inherits them.
        os.environ.update(
            {
                "REDIS_URL": redis_server.url,
                "DATABASE_URL": f"sqlite:///{DATABASE}",
                "DEBUG": "False",
                "CELERY_TASK_ALWAYS_EAGER": "False",
            }
        )
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        # Without DJANGO_SETTINGS_MODULE Celery applies no Django fix-up: the
        # bare worker does not even import Django.
        bare_env = {
            key: value
            for key, value in os.environ.items()
            if key != "DJANGO_SETTINGS_MODULE"
        }

        fresh_database()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env=os.environ,
            check=True,
        )

        ours_worker = Worker(
            name="ours",
            app="config",
            queue="bench",
            env=dict(os.environ),
            extra=["--include", "bench.tasks"],
        )
        bare_worker = Worker(name="bare", app="bench.bare", queue="bare", env=bare_env)
        for worker in (ours_worker, bare_worker):
            cleanup.callback(worker.stop)
            worker.start()

        # Our app loads its django-db result backend on the first delay(),
        # which needs Django set up, as it is in a web process.
        import django

        django.setup()
        from bench import bare, measure, tasks

        sides = [measure.Side.of(tasks), measure.Side.of(bare)]

        # Measure only once both workers are idle: a worker starting up would
        # take CPU from the caller being timed.
        for worker in (ours_worker, bare_worker):
            worker.wait_ready()
        say(f"workers ready after {time.monotonic() - started:.1f}s")
        for side in sides:
            measure.warm_up(side)

        say("timing delay()")
        delay = measure.delay_call_us(sides)
        say("timing pickup latency")
        p50, p95 = measure.pickup_latency_ms(sides)
        say("timing no-op throughput")
        throughput = measure.noop_throughput(sides)

    rows = [
        report.row("delay_call_us", delay, "us", lower_is_better=True),
        report.row("pickup_latency_p50_ms", p50, "ms", lower_is_better=True),
        report.row("pickup_latency_p95_ms", p95, "ms", lower_is_better=True),
        report.row(
            "noop_throughput_per_s", throughput, "tasks/s", lower_is_better=False
        ),
    ]
    print(report.table(rows))
    report.write_json(rows, RESULTS)
    say(f"wrote {RESULTS.relative_to(BASE_DIR)} in {time.monotonic() - started:.1f}s")
    if load_before > cores / 2:
        say(
            f"the machine was busy (load average {load_before:.1f} on {cores} "
            "cores before the run): the figures are noisy, run it again later"
        )


if __name__ == "__main__":
    main()
