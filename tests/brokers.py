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


class RabbitMQVhost:
    """A virtual host of its own on the machine's RabbitMQ (127.0.0.1:5672,
    guest/guest), deleted at the end: the tests' queues never meet anyone
    else's."""

    def __init__(self):
        import uuid

        self.name = f"jobs-test-{uuid.uuid4().hex[:8]}"
        self.url = f"amqp://guest:guest@127.0.0.1:5672/{self.name}"

    def ctl(self, *arguments: str) -> str:
        import subprocess

        result = subprocess.run(
            ["rabbitmqctl", *arguments],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def create(self) -> "RabbitMQVhost":
        self.ctl("add_vhost", self.name)
        self.ctl("set_permissions", "-p", self.name, "guest", ".*", ".*", ".*")
        return self

    def delete(self) -> None:
        self.ctl("delete_vhost", self.name)

    def queues(self) -> dict[str, tuple[bool, int]]:
        """Each queue's (durable, messages ready)."""
        out = self.ctl(
            "list_queues",
            "-p",
            self.name,
            "--quiet",
            "--no-table-headers",
            "name",
            "durable",
            "messages_ready",
        )
        found = {}
        for line in out.splitlines():
            name, durable, ready = line.split()
            found[name] = (durable == "true", int(ready))
        return found

    def drop_connections(self) -> None:
        """What the clients see of a broker restart: every connection closed."""
        self.ctl("close_all_connections", "-p", self.name, "tests: broker restart")


def rabbitmq_reachable() -> bool:
    import shutil
    import socket

    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        with socket.create_connection(("127.0.0.1", 5672), timeout=1):
            return True
    except OSError:
        return False
