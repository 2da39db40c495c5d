"""The process classes of tests.processes, which worker tests and bench/ use."""

import time

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask

from tests.processes import wait_until

pytestmark = [pytest.mark.worker]


def stored_schedule() -> set[str]:
    return set(PeriodicTask.objects.values_list("name", flat=True))


def test_beat_stores_the_schedule_in_the_test_database_and_stops_on_sigterm(
    start_beat,
):
    beat = start_beat()
    # The DatabaseScheduler copies the settings' schedule into the database it
    # was given: the test database.
    wait_until(
        lambda: (
            beat.running() and set(settings.CELERY_BEAT_SCHEDULE) <= stored_schedule()
        ),
        timeout=10,
        interval=0.1,
        message=f"beat stored no schedule:\n{beat.output()}",
    )
    assert "DatabaseScheduler" in beat.output()

    assert beat.stop() == 0
    assert not beat.running()


@pytest.mark.parametrize("delay", [0, 0.05, 0.2, 1])
def test_beat_stops_on_sigterm_at_any_moment_of_its_start_up(start_beat, delay):
    # "beat: Starting..." is logged just before the scheduler loads the
    # schedule from the database: a `docker stop` then lands in that query.
    beat = start_beat()
    time.sleep(delay)

    assert beat.stop(timeout=15) == 0, beat.output()
