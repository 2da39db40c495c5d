"""
`python -m bench`: start a private redis-server and one worker per app, measure
both apps (see bench.measure) and the job kit against the naive way of running
a job (see bench.jobs), stop everything, print the table and write
var/bench.json.

Our worker runs as a deployment would: DEBUG off, a database migrated for the
django-db result backend and the job rows (a throwaway SQLite file,
var/bench.sqlite3), tasks outside eager mode. Its settings are tests.settings:
the project's own plus the test-only job type the job rows run (SampleJob), so
it also consumes that job's queue. The processes are the classes the worker
tests run (tests.processes), started in their own sessions and stopped by pid.

Then the CSV import (bench.imports), the PDF reports (bench.reports) and the
thumbnails (bench.thumbnails), each in processes of its own.
`python -m bench reports` or `python -m bench thumbnails` runs only that part
(no Redis or workers needed) and replaces its rows in var/bench.json, keeping
the others.
"""

import os
import subprocess
import sys
import time
from contextlib import ExitStack

from bench import report
from tests.processes import BASE_DIR, CeleryWorker, ProgramMissing, RedisServer

VAR_DIR = BASE_DIR / "var"
DATABASE = VAR_DIR / "bench.sqlite3"
RESULTS = VAR_DIR / "bench.json"
# Both workers get the same flags: one prefork child, so the figures compare
# configurations and not pool sizes, and no heartbeat (nor mingle or gossip,
# which CeleryWorker leaves out): broker chatter unrelated to running tasks.
WORKER_OPTIONS = ["--pool=prefork", "--without-heartbeat"]


def fresh_database() -> None:
    for suffix in ("", "-wal", "-shm"):
        DATABASE.with_name(DATABASE.name + suffix).unlink(missing_ok=True)


def bench_worker(name: str, **kwargs) -> CeleryWorker:
    """A one-child worker; its output goes to var/bench-<name>.log."""
    return CeleryWorker(
        name=name,
        broker_url=os.environ["REDIS_URL"],
        database_url=os.environ["DATABASE_URL"],
        log=VAR_DIR / f"bench-{name}.log",
        concurrency=1,
        **kwargs,
    )


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def import_rows(database_url: str) -> list[dict]:
    """The CSV import's rows (bench.imports), on a throwaway PostgreSQL
    database beside `database_url`'s when it names one, and on SQLite."""
    from bench import databases, imports

    rows = []
    if databases.names_postgresql(database_url):
        with databases.throwaway(database_url, imports.DATABASE_NAME) as url:
            rows += imports.rows_for(url, "postgresql")
    else:
        say("imports: DATABASE_URL names no PostgreSQL server; SQLite only")
    sqlite = VAR_DIR / "bench-imports.sqlite3"
    sqlite.unlink(missing_ok=True)
    rows += imports.rows_for(f"sqlite:///{sqlite}", "sqlite")
    return rows


def say_if_busy(load_before: float) -> None:
    cores = os.cpu_count() or 1
    if load_before > cores / 2:
        say(
            f"the machine was busy (load average {load_before:.1f} on {cores} "
            "cores before the run): the figures are noisy, run it again later"
        )


# The parts that run alone (`python -m bench <part>`): no Redis or workers.
PARTS = {
    "reports": "the PDF reports (takes three to five minutes)",
    "thumbnails": "the thumbnails (about a minute)",
    "polling": "the status endpoint under polling load (about a minute)",
}


def part_only(name: str) -> None:
    """Measure one part and replace its rows in var/bench.json."""
    import importlib

    started, load_before = time.monotonic(), os.getloadavg()[0]
    say(f"timing {PARTS[name]}")
    rows = importlib.import_module(f"bench.{name}").rows()
    print(report.table(rows))
    report.merge_json(rows, RESULTS)
    say(f"wrote {RESULTS.relative_to(BASE_DIR)} in {time.monotonic() - started:.1f}s")
    say_if_busy(load_before)


def main() -> None:
    started = time.monotonic()
    # The import is measured on the database this machine uses (CI and this
    # machine: PostgreSQL), read before the run points at its own SQLite file.
    database_url = os.environ.get("DATABASE_URL", "")
    # Other work on the machine lands on whichever side is being timed; the
    # turns in bench.measure even it out only partly, so say when there was
    # some. Read before the run, whose own processes raise the load.
    load_before = os.getloadavg()[0]
    with ExitStack() as cleanup:
        redis_server = RedisServer()
        cleanup.callback(redis_server.stop)
        try:
            redis_server.start()
        except ProgramMissing as error:
            raise SystemExit(f"bench: {error}. Install it and run again.") from None
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
        # Not a default: the job rows need SampleJob, which only these
        # settings install.
        os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"

        fresh_database()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env=os.environ,
            check=True,
        )

        # "bench" for the task rows; "quick" for the job rows, where both the
        # kit's SampleJob task and the naive one go (bench.tasks.JOB_QUEUE).
        ours_worker = bench_worker(
            "ours",
            queues="bench,quick",
            options=[*WORKER_OPTIONS, "--include=bench.tasks"],
        )
        # Without DJANGO_SETTINGS_MODULE Celery applies no Django fix-up: the
        # bare worker does not even import Django.
        bare_worker = bench_worker(
            "bare",
            app="bench.bare",
            queues="bare",
            options=WORKER_OPTIONS,
            env={"DJANGO_SETTINGS_MODULE": None},
        )
        for worker in (ours_worker, bare_worker):
            cleanup.callback(worker.stop)
            worker.start(wait=False)

        # Our app loads its django-db result backend on the first delay(),
        # which needs Django set up, as it is in a web process.
        import django

        django.setup()
        from bench import bare, jobs, measure, tasks

        sides = [measure.Side.of(tasks), measure.Side.of(bare)]
        jobs.check_queue()
        owner = jobs.bench_owner()

        # Measure only once both workers are idle: a worker starting up would
        # take CPU from the caller being timed.
        for worker in (ours_worker, bare_worker):
            worker.wait_ready()
        say(f"workers ready after {time.monotonic() - started:.1f}s")
        for side in sides:
            measure.warm_up(side)
        jobs.warm_up(owner)

        say("timing delay()")
        delay = measure.delay_call_us(sides)
        say("timing pickup latency")
        p50, p95 = measure.pickup_latency_ms(sides)
        say("timing no-op throughput")
        throughput = measure.noop_throughput(sides)
        say("timing job round trip")
        job_roundtrip = jobs.roundtrip_ms(owner)
        say("timing job throughput")
        job_throughput = jobs.throughput_per_s(owner)

        # Scaling out: a second worker process of ours on the same Redis and
        # database, the same queues; what two get through against one.
        second = bench_worker(
            "ours-2",
            queues="bench,quick",
            options=[*WORKER_OPTIONS, "--include=bench.tasks"],
        )
        cleanup.callback(second.stop)
        second.start(wait=False)
        second.wait_ready()
        say("timing no-op and job throughput with two worker processes")
        ours = sides[0]
        noop_two = measure.noop_throughput([ours])[ours.name]
        job_two = jobs.throughput_per_s(owner)["ours"]

    rows = [
        report.row("delay_call_us", delay, "us", lower_is_better=True),
        report.row("pickup_latency_p50_ms", p50, "ms", lower_is_better=True),
        report.row("pickup_latency_p95_ms", p95, "ms", lower_is_better=True),
        report.row(
            "noop_throughput_per_s", throughput, "tasks/s", lower_is_better=False
        ),
        report.row("job_roundtrip_p50_ms", job_roundtrip, "ms", lower_is_better=True),
        report.row(
            "job_throughput_per_s", job_throughput, "jobs/s", lower_is_better=False
        ),
        # Not ours against bare: our two processes against our one.
        report.row(
            "noop_throughput_2_procs_vs_1",
            {"ours": noop_two, "bare": throughput[ours.name]},
            "tasks/s",
            lower_is_better=False,
        ),
        report.row(
            "job_throughput_2_procs_vs_1",
            {"ours": job_two, "bare": job_throughput["ours"]},
            "jobs/s",
            lower_is_better=False,
        ),
    ]
    say("timing the CSV import (takes minutes: the naive loop is slow)")
    rows += import_rows(database_url)
    say("timing the PDF reports (takes three to five minutes)")
    from bench import reports

    rows += reports.rows()
    say("timing the thumbnails (about a minute)")
    from bench import thumbnails

    rows += thumbnails.rows()
    say("timing the status endpoint under polling load (about a minute)")
    from bench import polling

    rows += polling.rows(database_url)
    print(report.table(rows))
    report.write_json(rows, RESULTS)
    say(f"wrote {RESULTS.relative_to(BASE_DIR)} in {time.monotonic() - started:.1f}s")
    say_if_busy(load_before)


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in PARTS:
        part_only(sys.argv[1])
    elif sys.argv[1:]:
        raise SystemExit(f"usage: python -m bench [{' | '.join(PARTS)}]")
    else:
        main()
