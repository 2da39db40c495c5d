"""
The polling load: a job's status endpoint, as a page polls it, against a
bare view (/healthz) on the same server, in the same run.

gunicorn serves the app with one sync worker pinned to one core (taskset,
where it exists); a second process on the other core keeps CONNECTIONS
keep-alive connections busy for SECONDS on each URL, in turns, and counts
requests per second and the 95th percentile of their latency. The status
request is what htmx sends every second: a logged-in session, HX-Request,
a running email job's box, and the version of the box the page shows; most
such polls find nothing changed and are answered 204. Beside it, the same
endpoint asked without the version, drawing the whole box every time (what
a poll that finds the job changed costs). It runs on a fresh SQLite file,
and first on a throwaway PostgreSQL database when DATABASE_URL names a
server; there it also measures what the change feed's triggers cost job
writes (apps/core/changes.py).

One worker-core's requests per second is also how many 1-second pollers it
sustains. `python -m bench polling` runs only this part.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.processes import BASE_DIR, free_port, wait_until

DATABASE = BASE_DIR / "var" / "bench-polling.sqlite3"
DATABASE_NAME = "bench_polling"  # Beside DATABASE_URL's, on PostgreSQL.
WRITERS = 4
CONNECTIONS = 8
SECONDS = 5
ROUNDS = 3


def say(text: str) -> None:
    print(f"bench: polling: {text}", file=sys.stderr, flush=True)


def load(
    url: str,
    cookie: str,
    headers: dict,
    seconds: float,
    connections: int,
    follow: bool = True,
) -> dict:
    """Keep `connections` connections busy on `url`; requests/s and p95 ms.
    Runs in its own process (python -m bench.polling load ...)."""
    import http.client
    import re
    import threading
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def run():
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        mine = []
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            connection.request("GET", target, headers={"Cookie": cookie, **headers})
            response = connection.getresponse()
            body = response.read()
            if response.status not in (200, 204):
                failures[0] += 1
            # As htmx does: a box drawn afresh carries the URL of the next poll.
            if follow and (found := re.search(rb'hx-get="([^"]+)"', body)):
                target = found.group(1).decode().replace("&amp;", "&")
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(connections)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p95_ms": latencies[int(0.95 * (len(latencies) - 1))] * 1000,
        "failures": failures[0],
    }


def measure(url: str, cookie: str, headers: dict, *, follow: bool = True) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.polling",
        "load",
        url,
        cookie,
        json.dumps(headers),
        str(SECONDS),
        str(CONNECTIONS),
        "follow" if follow else "stay",
    ]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "1", *command]
    result = subprocess.run(
        command, cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def prepare(env: dict) -> tuple[str, str]:
    """A user, their session and a running email job; (cookie, status path)."""
    code = """
import django; django.setup()
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from apps.accounts.models import User
from apps.notifications.models import OutgoingEmail
user = User.objects.create_user("poller@example.com", "x-password-1")
email = OutgoingEmail.objects.create(
    owner=user, template="welcome", to_address=user.email,
    from_address="x@example.com", subject="Welcome", body_text="Hi " * 2000,
    body_html="<p>Hi</p>" * 2000, idempotency_key="poll", status="running",
    progress=50, stage="Sending", attempts=1, started_at=timezone.now(),
    lease_expires_at=timezone.now() + timezone.timedelta(days=1),
)
session = SessionStore()
session[SESSION_KEY] = str(user.pk)
session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(f"{settings.SESSION_COOKIE_NAME}={session.session_key}")
from django.urls import reverse
print(reverse("core:job_status", args=[email._meta.label_lower, email.pk]))
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    cookie, path = result.stdout.strip().splitlines()[-2:]
    return cookie, path


def rows(database_url: str = "") -> list[dict]:
    """On a throwaway PostgreSQL database beside `database_url`'s (by default
    DATABASE_URL's) when it names one, with the cost of the change feed's
    triggers to job writes, and on SQLite."""
    from bench import databases

    found = []
    database_url = database_url or os.environ.get("DATABASE_URL", "")
    if databases.names_postgresql(database_url):
        with databases.throwaway(database_url, DATABASE_NAME) as url:
            found += rows_for(url, "postgresql")
            found += write_rows(url)
    else:
        say("DATABASE_URL names no PostgreSQL server; SQLite only")
    for suffix in ("", "-wal", "-shm"):
        DATABASE.with_name(DATABASE.name + suffix).unlink(missing_ok=True)
    return found + rows_for(f"sqlite:///{DATABASE}", "sqlite")


def rows_for(database_url: str, label: str) -> list[dict]:
    """The polling rows on the empty, or new, database `database_url`."""
    from bench import report

    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECRET_KEY": "bench-polling-" + "x" * 40,
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=env,
        check=True,
    )
    cookie, path = prepare(env)
    gunicorn = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
    ]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        gunicorn = ["taskset", "-c", "0", *gunicorn]
    server = subprocess.Popen(
        gunicorn,
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        import urllib.request

        def up():
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                return True
            except OSError:
                return False

        wait_until(up, timeout=20, message="gunicorn did not start")
        base = f"http://127.0.0.1:{port}"
        htmx = {"HX-Request": "true"}
        # A server that has been up a while: its code loaded, its change
        # feed listening (apps.core.changes).
        measure(base + "/healthz", "", {})
        runs = {"status": [], "redraw": [], "bare": []}
        for _ in range(ROUNDS):  # In turns, so that noise lands on all.
            # The first request draws the box, as the page does; each poll
            # after it asks with the version of the box it last got.
            runs["status"].append(measure(base + path, cookie, htmx))
            # A poll that finds the job changed draws the whole box; one
            # without the version it last saw always does.
            runs["redraw"].append(measure(base + path, cookie, htmx, follow=False))
            runs["bare"].append(measure(base + "/healthz", "", {}))
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)
    figures = {
        side: {
            "rps": statistics.median(run["rps"] for run in found),
            "p95_ms": statistics.median(run["p95_ms"] for run in found),
            "failures": sum(run["failures"] for run in found),
        }
        for side, found in runs.items()
    }
    assert figures["status"]["failures"] == 0, "the status endpoint failed"
    assert figures["redraw"]["failures"] == 0, "the status endpoint failed"
    say(
        f"{label}: status endpoint {figures['status']['rps']:.0f} requests/s "
        f"(p95 {figures['status']['p95_ms']:.1f} ms; drawing the box every time "
        f"{figures['redraw']['rps']:.0f}) against /healthz "
        f"{figures['bare']['rps']:.0f} (p95 {figures['bare']['p95_ms']:.1f} ms): "
        f"one worker-core sustains about {figures['status']['rps']:.0f} "
        "pollers asking once a second"
    )
    return [
        report.row(
            f"poll_status_rps_vs_bare_view_{label}",
            {"ours": figures["status"]["rps"], "bare": figures["bare"]["rps"]},
            "req/s",
            lower_is_better=False,
        ),
        report.row(
            f"poll_status_redrawn_rps_vs_bare_view_{label}",
            {"ours": figures["redraw"]["rps"], "bare": figures["bare"]["rps"]},
            "req/s",
            lower_is_better=False,
        ),
        report.row(
            f"poll_status_p95_ms_vs_bare_view_{label}",
            {"ours": figures["status"]["p95_ms"], "bare": figures["bare"]["p95_ms"]},
            "ms",
            lower_is_better=True,
        ),
    ]


def write_rows(database_url: str) -> list[dict]:
    """What the change feed's triggers cost job writes: WRITERS connections
    changing the progress of their own job as fast as they can, with the
    trigger on and off in turns (NOTIFY takes a lock for the whole cluster
    while its transaction commits)."""
    from bench import report

    command = [sys.executable, "-m", "bench.polling", "writes", database_url]
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-polling-" + "x" * 40,
    }
    result = subprocess.run(
        command, cwd=BASE_DIR, env=env, capture_output=True, text=True, check=True
    )
    on, off = json.loads(result.stdout.strip().splitlines()[-1])
    say(f"postgresql: job writes {on:.0f}/s with the feed's trigger, {off:.0f} without")
    return [
        report.row(
            "job_writes_per_s_with_change_feed_vs_without_postgresql",
            {"ours": on, "bare": off},
            "writes/s",
            lower_is_better=False,
        )
    ]


def writes(database_url: str) -> tuple[float, float]:
    """Job writes a second with the trigger and without (medians of turns).
    Runs in its own process (python -m bench.polling writes URL)."""
    import threading

    import django
    import psycopg

    django.setup()
    from apps.notifications.models import OutgoingEmail

    ids = []
    for n in range(WRITERS):  # Copies of the polled job, one for each writer.
        email = OutgoingEmail.objects.get(idempotency_key="poll")
        email.pk, email.idempotency_key = None, f"writes-{n}"
        email.save()
        ids.append(email.pk)

    with psycopg.connect(database_url, autocommit=True) as setup:

        def run(job_id: int, counts: list, stop_at: float) -> None:
            with psycopg.connect(database_url, autocommit=True) as writer:
                done = 0
                while time.perf_counter() < stop_at:
                    writer.execute(
                        "UPDATE notifications_outgoingemail"
                        " SET progress = (progress + 1) %% 100 WHERE id = %s",
                        [job_id],
                    )
                    done += 1
                counts.append(done)

        turns = {"ENABLE": [], "DISABLE": []}
        for _ in range(ROUNDS):
            for switch in turns:
                setup.execute(
                    f"ALTER TABLE notifications_outgoingemail {switch}"
                    " TRIGGER box_changed"
                )
                counts: list[int] = []
                stop_at = time.perf_counter() + SECONDS
                threads = [
                    threading.Thread(target=run, args=(job_id, counts, stop_at))
                    for job_id in ids
                ]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                turns[switch].append(sum(counts) / SECONDS)
        setup.execute(
            "ALTER TABLE notifications_outgoingemail ENABLE TRIGGER box_changed"
        )
    return statistics.median(turns["ENABLE"]), statistics.median(turns["DISABLE"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["writes"]:
        print(json.dumps(writes(sys.argv[2])))
        raise SystemExit

    if sys.argv[1:2] == ["load"]:
        url, cookie, headers, seconds, connections, follow = sys.argv[2:8]
        figures = load(
            url,
            cookie,
            json.loads(headers),
            float(seconds),
            int(connections),
            follow=follow == "follow",
        )
        print(json.dumps(figures))
    else:
        print(json.dumps(rows()))
