"""
The processes the benchmark runs: a private redis-server and one Celery worker
per app. Each is started in its own session and stopped by its pid (SIGTERM,
then SIGKILL), so a run never leaves one behind and never touches another
Redis or worker on the machine.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(condition, *, timeout: float, message: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(message)


def stop(process: subprocess.Popen | None, timeout: float = 10) -> None:
    """SIGTERM the process's group (a worker's pool children too), then SIGKILL."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


class RedisServer:
    """A throwaway redis-server: no persistence, its own port."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> "RedisServer":
        binary = shutil.which("redis-server")
        if not binary:
            raise SystemExit(
                "bench: redis-server is not on PATH; install it "
                "(apt-get install redis-server) and run again."
            )
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        wait_until(self._answers, timeout=10, message="redis-server did not start")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        stop(self.process)


class Worker:
    """`celery -A <app> worker` on one queue, its output in a log file in var/.

    Both apps get the same flags: one prefork child, so the figures compare
    configurations and not pool sizes, and no mingle, gossip or heartbeat,
    which only add broker chatter unrelated to running tasks.
    """

    def __init__(self, *, name: str, app: str, queue: str, env: dict, extra=()):
        self.name = name
        self.command = [
            sys.executable, "-m", "celery", "-A", app, "worker", *extra,
            f"--queues={queue}", "--concurrency=1", "--pool=prefork",
            "--loglevel=INFO", "--without-mingle", "--without-gossip",
            "--without-heartbeat", f"--hostname={name}-{os.getpid()}@%h",
        ]  # fmt: skip
        self.env = env
        self.log_path = BASE_DIR / "var" / f"bench-{name}.log"
        self.process = None

    def start(self) -> "Worker":
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 30) -> None:
        wait_until(
            self._ready,
            timeout=timeout,
            interval=0.1,
            message=f"the {self.name} worker did not start:\n{self.output()}",
        )

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"the {self.name} worker exited:\n{self.output()}")
        return " ready." in self.output()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop(self.process)
