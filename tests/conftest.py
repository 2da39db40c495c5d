import pytest

from config.celery import app as celery_app
from tests.brokers import use_broker
from tests.factories import PASSWORD, UserFactory
from tests.processes import (
    CeleryBeat,
    CeleryWorker,
    RedisServer,
    database_url,
    require_program,
)


@pytest.fixture(scope="session", autouse=True)
def celery_eager():
    """Fast tests run tasks in-process when their on_commit callbacks fire.

    Tests that need the real thing use `celery_worker`, which turns this off.
    """
    celery_app.conf.task_always_eager = True
    yield


@pytest.fixture(autouse=True)
def static_files_without_collectstatic(settings):
    """Serve static files from the source folders, as DEBUG does.

    Production uses WhiteNoise's manifest storage, which needs `collectstatic`
    (the Dockerfile runs it; tests/config checks that it works).
    """
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }
    settings.WHITENOISE_USE_FINDERS = True


@pytest.fixture
def clock():
    """Time stands still until the test moves it (`clock.shift(timedelta)`)."""
    import time_machine
    from django.utils import timezone

    with time_machine.travel(timezone.now(), tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Stored files (imports) go to a folder of the test's own, which the
    workers it starts are given too."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with no abuse-limit counts (they live in the cache)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def products(db):
    """The demo catalogue, by SKU."""
    from apps.orders import services
    from apps.orders.models import Product

    services.products_seed_demo()
    return list(Product.objects.order_by("sku"))


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture(scope="session")
def redis_server():
    require_program("redis-server")
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server):
    """Publish this process's tasks to the private Redis instead of running them."""
    with use_broker(redis_server.url):
        yield redis_server


@pytest.fixture
def start_worker(broker, transactional_db, tmp_path, media_root):
    """Start real worker processes; stop every one still running at the end.

    `start_worker(PAYMENT_GATEWAY_LATENCY="0", concurrency=1)` starts
    `celery -A config worker` with that environment added, on the private Redis
    (`broker_url=` for another) and the test database, and returns it once
    ready (a tests.processes.CeleryWorker). Emails its workers send land as
    files in `worker.mail_dir`, one folder for all of them.
    """
    from django.db import connection

    mail_dir = tmp_path / "sent-mail"
    mail_dir.mkdir()
    workers = []

    def start(
        *,
        concurrency: int = 2,
        broker_url: str | None = None,
        queues: str = "quick,heavy,critical,bulk",
        name: str = "test",
        **env: str,
    ) -> CeleryWorker:
        env = {"MEDIA_ROOT": str(media_root), **env}
        worker = CeleryWorker(
            broker_url=broker_url or broker.url,
            database_url=database_url(connection.settings_dict),
            log=tmp_path / f"celery-worker-{len(workers) + 1}.log",
            env=env,
            concurrency=concurrency,
            queues=queues,
            name=name,
            mail_dir=mail_dir,
        )
        workers.append(worker)
        return worker.start()

    yield start
    for worker in reversed(workers):
        worker.stop()


@pytest.fixture
def worker_env():
    """Extra environment for the `celery_worker` process; override to change it."""
    return {}


@pytest.fixture
def celery_worker(start_worker, worker_env):
    """A real worker process on the private Redis and the test database.

    Emails it sends land as files in `celery_worker.mail_dir`.
    """
    return start_worker(**worker_env)


@pytest.fixture
def start_beat(broker, transactional_db, tmp_path):
    """Start `celery -A config beat` processes; stop them all at the end.

    `start_beat(JOB_QUEUED_LEASE="5")` adds that environment and returns the
    tests.processes.CeleryBeat once it has started, on the private Redis
    (`broker_url=` for another) and the test database, whose schedule it uses.
    """
    from django.db import connection

    beats = []

    def start(*, broker_url: str | None = None, **env: str) -> CeleryBeat:
        beat = CeleryBeat(
            broker_url=broker_url or broker.url,
            database_url=database_url(connection.settings_dict),
            log=tmp_path / f"celery-beat-{len(beats) + 1}.log",
            env=env,
        )
        beats.append(beat)
        return beat.start()

    yield start
    for beat in reversed(beats):
        beat.stop()
