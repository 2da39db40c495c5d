"""
Real processes for the tests that need them: a private redis-server on a free
port and `celery -A config worker` against the test database.

Both are found on PATH. Without them the tests skip, except in CI (CI=true),
where a missing program fails the run: CI must prove the real thing.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent


def require_program(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed (apt-get install {name})"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout: float, interval: float = 0.05, message=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(message or f"condition not met within {timeout}s")


class RedisServer:
    """A throwaway redis-server on its own port, stopped by pid.

    No persistence, unless `data_dir` is given: then it keeps an append-only
    file there, as compose configures Redis, and survives a restart.
    """

    def __init__(self, data_dir: Path | None = None):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.data_dir = data_dir
        self.process = None

    def start(self):
        binary = require_program("redis-server")
        persistence = (
            [
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ]
            if self.data_dir
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *persistence,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, timeout=10, message="redis-server did not start")
        return self

    def restart(self):
        """Stop and start again on the same port (and data, if any)."""
        self.stop()
        return self.start()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


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


class CeleryWorker:
    """`celery -A config worker` in its own process, as `make run` starts it."""

    def __init__(
        self,
        *,
        broker_url: str,
        database_url: str,
        log_dir: Path,
        env: dict | None = None,
        concurrency: int = 2,
    ):
        # Kept open for the life of the worker, which writes its log into it;
        # under the test's tmp_path, which pytest cleans up.
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            dir=log_dir, prefix="celery-worker-", suffix=".log", delete=False
        )
        self.env = {
            **os.environ,
            "REDIS_URL": broker_url,
            "DATABASE_URL": database_url,
            "DEBUG": "False",
            "CELERY_TASK_ALWAYS_EAGER": "False",
            **(env or {}),
        }
        self.concurrency = concurrency
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--loglevel=INFO",
                "--queues=quick,heavy,critical",
                f"--concurrency={self.concurrency}",
                "--without-mingle",
                "--without-gossip",
                f"--hostname=test-{os.getpid()}@%h",
            ],
            cwd=BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(
            self._ready,
            timeout=30,
            interval=0.1,
            message=f"celery worker did not start:\n{self.output()}",
        )
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"celery worker exited:\n{self.output()}")
        return " ready." in self.output()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int | None:
        """Signal the main process, as `docker stop` does; SIGKILL all if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL the worker and its pool children at once, as an OOM kill would."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.wait(timeout=10)
