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
    with ExitStack() as cleanup:
        redis_server = RedisServer().start()
        cleanup.callback(redis_server.stop)
        say(f"redis-server on port {redis_server.port}")

        # Set before Django or either app is imported: settings.py and
        # bench.bare read them once, at import.
        ours_env = {
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": f"sqlite:///{DATABASE}",
            "DEBUG": "False",
            "CELERY_TASK_ALWAYS_EAGER": "False",
        }
        os.environ.update(ours_env)
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
        latency = measure.pickup_latency_ms(sides)
        say("timing no-op throughput")
        throughput = measure.noop_throughput(sides)

    rows = [
        report.row(
            "delay_call_us", delay["ours"], delay["bare"], "us", lower_is_better=True
        ),
        report.row(
            "pickup_latency_p50_ms",
            latency["ours"][0],
            latency["bare"][0],
            "ms",
            lower_is_better=True,
        ),
        report.row(
            "pickup_latency_p95_ms",
            latency["ours"][1],
            latency["bare"][1],
            "ms",
            lower_is_better=True,
        ),
        report.row(
            "noop_throughput_per_s",
            throughput["ours"],
            throughput["bare"],
            "tasks/s",
            lower_is_better=False,
        ),
    ]
    print(report.table(rows))
    report.write_json(rows, RESULTS)
    say(f"wrote {RESULTS.relative_to(BASE_DIR)} in {time.monotonic() - started:.1f}s")


if __name__ == "__main__":
    main()
