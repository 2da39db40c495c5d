import pytest

from config.celery import app as celery_app
from tests.brokers import use_broker
from tests.factories import PASSWORD, UserFactory
from tests.processes import CeleryWorker, RedisServer, database_url


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
def password():
    return PASSWORD


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def broker(redis_server):
    """Publish this process's tasks to the private Redis instead of running them."""
    with use_broker(redis_server.url):
        yield redis_server


@pytest.fixture
def worker_env():
    """Extra environment for the `celery_worker` process; override to change it."""
    return {}


@pytest.fixture
def celery_worker(broker, transactional_db, tmp_path, worker_env):
    """A real worker process on the private Redis and the test database.

    Emails it sends land as files in `celery_worker.mail_dir`.
    """
    from django.db import connection

    mail_dir = tmp_path / "sent-mail"
    mail_dir.mkdir()
    worker = CeleryWorker(
        broker_url=broker.url,
        database_url=database_url(connection.settings_dict),
        log_dir=tmp_path,
        env={"EMAIL_URL": f"filemail:///{mail_dir}", **worker_env},
    )
    worker.mail_dir = mail_dir
    worker.start()
    yield worker
    worker.stop()
