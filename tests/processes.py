"""
Real processes for the tests and for the benchmark: a private redis-server, and
`celery worker` and `celery beat` as the Procfile runs them.

One module for both. It lives in tests/ because that is where the tests'
imports already point, and tests/ and bench/ are both development code kept
out of the image (.dockerignore); a top-level package would need its own place
in the image rules. bench/ runs outside pytest (`python -m bench`), so this
module does not import pytest: only require_program does, when called, to
skip a test whose program is missing (or fail it in CI, CI=true, which must
prove the real thing). The fixtures built on these classes are in
tests/conftest.py.

Each process runs in its own session, so its process group is its pid: stop()
signals the main process as `docker stop` does, kill() SIGKILLs the whole group
(a worker's pool too), and no other Redis or worker on the machine is touched.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

BASE_DIR = Path(__file__).resolve().parent.parent


class ProgramMissing(RuntimeError):
    """A program a process needs is not on PATH."""


def find_program(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise ProgramMissing(f"{name} is not installed (apt-get install {name})")
    return path


def require_program(name: str) -> str:
    """find_program for a test: skip it without the program, fail it in CI."""
    import pytest  # Only here: bench imports this module outside pytest.

    try:
        return find_program(name)
    except ProgramMissing as error:
        if os.environ.get("CI"):
            pytest.fail(str(error))
        pytest.skip(str(error))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout: float, interval: float = 0.05, message=""):
    """Call `condition` until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(message or f"condition not met within {timeout}s")


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for another process to reach the test database."""
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def celery_env(broker_url: str, database_url: str, env: Mapping | None) -> dict:
    """The environment of a `celery` command as deployed, plus `env`: DEBUG off,
    tasks sent to the broker rather than run eagerly."""
    return {
        "REDIS_URL": broker_url,
        "DATABASE_URL": database_url,
        "DEBUG": "False",
        "CELERY_TASK_ALWAYS_EAGER": "False",
        **(env or {}),
    }


class Process:
    """A long-running program in its own session, its output in `log` (if any).

    Subclasses give its command and say when it is ready. `env` is added to
    this process's environment; a value of None removes that variable. One log
    covers every start of the object: it is emptied once, when it is made.
    """

    description = "the process"

    def __init__(
        self, *, log: Path | None = None, env: Mapping[str, str | None] | None = None
    ):
        self.log = log
        if log:
            log.write_bytes(b"")
        merged = {**os.environ, **(env or {})}
        self.env = {name: value for name, value in merged.items() if value is not None}
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def is_ready(self) -> bool:
        raise NotImplementedError

    def start(self, *, wait: bool = True, timeout: float = 30) -> Self:
        """Start it and, unless `wait` is false, wait until it is ready."""
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                self.command(),
                cwd=BASE_DIR,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if self.log:
                out.close()  # The child has its own copy.
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        wait_until(
            self._ready,
            timeout=timeout,
            interval=0.1,
            message=f"{self.description} did not start:\n{self.output()}",
        )

    def _ready(self) -> bool:
        if not self.running():
            code = self.process.returncode
            raise RuntimeError(f"{self.description} exited {code}:\n{self.output()}")
        return self.is_ready()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal the main process, as `docker stop` does; SIGKILL all if it hangs."""
        if not self.running():
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL the process and its children at once, as an OOM kill would."""
        if not self.running():
            return self.process.returncode if self.process else None
        os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=10)


class RedisServer(Process):
    """A throwaway redis-server on its own port.

    No persistence, unless `data_dir` is given: then it keeps an append-only
    file there, as compose configures Redis, and survives a restart.
    """

    def __init__(self, data_dir: Path | None = None, *, log: Path | None = None):
        super().__init__(log=log)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        self.description = f"redis-server on port {self.port}"

    def command(self) -> list[str]:
        persistence = ["--appendonly", "no"]
        if self.data_dir:
            persistence = ["--dir", str(self.data_dir), "--appendonly", "yes"]
            persistence += ["--appendfsync", "always"]
        return [
            find_program("redis-server"),
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *persistence,
        ]

    def is_ready(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def restart(self) -> Self:
        """Stop and start again on the same port (and data, if any)."""
        self.stop()
        return self.start()


class CeleryWorker(Process):
    """`celery -A <app> worker`, by default as the Procfile runs it.

    Emails go to files in `mail_dir` when it is given (unless `env` sets
    EMAIL_URL). `options` are further flags, such as `--include=bench.tasks`.
    Mingle and gossip are off: they only add broker chatter to start-up.
    """

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        log: Path,
        env: Mapping[str, str | None] | None = None,
        app: str = "config",
        queues: str = "quick,heavy,critical,bulk",
        concurrency: int = 2,
        name: str = "test",
        options: Sequence[str] = (),
        mail_dir: Path | None = None,
    ):
        mail = {"EMAIL_URL": f"filemail:///{mail_dir}"} if mail_dir else {}
        env = {**mail, **(env or {})}
        super().__init__(log=log, env=celery_env(broker_url, database_url, env))
        self.mail_dir = mail_dir
        self.arguments = [
            *("-A", app, "worker", "--loglevel=INFO"),
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            *("--without-mingle", "--without-gossip"),
            f"--hostname={name}-{os.getpid()}@%h",
            *options,
        ]
        self.description = f"the {name} worker"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "celery", *self.arguments]

    def is_ready(self) -> bool:
        return " ready." in self.output()

    def pool_children(self) -> list[int]:
        """The pids of the worker's pool processes: its main process's children."""
        listing = subprocess.run(
            ["ps", "-A", "-o", "pid=,ppid="],
            capture_output=True,
            text=True,
            check=True,
        )
        pairs = (line.split() for line in listing.stdout.splitlines())
        return [int(pid) for pid, ppid in pairs if int(ppid) == self.process.pid]


class CeleryBeat(Process):
    """`celery -A <app> beat` as the Procfile runs it: the settings choose the
    DatabaseScheduler, which keeps the schedule in the database, not in a file."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        log: Path,
        env: Mapping[str, str | None] | None = None,
        app: str = "config",
    ):
        super().__init__(log=log, env=celery_env(broker_url, database_url, env))
        self.app = app
        self.description = f"celery beat for {app}"

    def command(self) -> list[str]:
        return [
            *(sys.executable, "-m", "celery", "-A", self.app, "beat"),
            "--loglevel=INFO",
        ]

    def is_ready(self) -> bool:
        return "beat: Starting..." in self.output()
