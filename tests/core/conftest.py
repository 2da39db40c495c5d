import pytest

from tests.jobkit import services


@pytest.fixture
def make_job(user, django_capture_on_commit_callbacks):
    """Queue a sample job (tests.jobkit) for `user` without running it."""

    def make(**fields):
        with django_capture_on_commit_callbacks(execute=False):
            return services.sample_job_start(owner=fields.pop("owner", user), **fields)

    return make
