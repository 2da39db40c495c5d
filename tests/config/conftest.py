import pytest

from tests.config.compose import app_environment, compose_file, dockerfile_arguments
from tests.config.container_commands import clean_env, run
from tests.config.image import copy_build_context

# docker-compose.yml, read once per test module


@pytest.fixture(scope="module")
def compose():
    return compose_file()


@pytest.fixture(scope="module")
def services(compose):
    return compose["services"]


@pytest.fixture(scope="module")
def app_env(compose):
    return app_environment(compose)


# The imitated image


@pytest.fixture(scope="session")
def image_dir(tmp_path_factory):
    """/app as the Dockerfile leaves it: the build context, static files collected."""
    app_dir = tmp_path_factory.mktemp("image") / "app"
    copy_build_context(app_dir)
    (collectstatic,) = [
        step for step in dockerfile_arguments("RUN") if "collectstatic" in step
    ]
    result = run(["sh", "-c", collectstatic], cwd=app_dir, env=clean_env())
    assert result.returncode == 0, result.stdout
    return app_dir
