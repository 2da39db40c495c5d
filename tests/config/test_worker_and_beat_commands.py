"""
The worker and beat services' commands and healthchecks, run as real processes
from the imitated image (see container_commands.py).
"""

import socket
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from tests.config.compose import interpolate
from tests.config.container_commands import SERVICES, container_env, run, started
from tests.processes import wait_until

# worker and beat


def test_worker_healthcheck_pings_the_running_worker(
    image_dir, django_db_setup, redis_server, tmp_path
):
    # In a container $HOSTNAME is the container's hostname, and the worker's
    # default node name is celery@<hostname>; here both are this machine's.
    env = container_env(
        image_dir, redis_url=redis_server.url, HOSTNAME=socket.gethostname()
    )
    # One child is enough to answer a ping; the image starts one per CPU.
    command = [*SERVICES["worker"]["command"], "--concurrency=1"]
    with started(
        command, cwd=image_dir, env=env, log=tmp_path / "worker.log"
    ) as worker:
        wait_until(lambda: worker.shows(" ready."), timeout=30, interval=0.1)
        _, check = SERVICES["worker"]["healthcheck"]["test"]
        result = run(["sh", "-c", interpolate(check)], cwd=image_dir, env=env)
    assert result.returncode == 0, result.stdout
    assert f"celery@{socket.gethostname()}: OK" in result.stdout


def stored_schedule() -> set[str]:
    return set(PeriodicTask.objects.values_list("name", flat=True))


def test_beat_command_starts_the_database_scheduler(
    image_dir, transactional_db, redis_server, tmp_path
):
    env = container_env(image_dir, redis_url=redis_server.url)
    names = set(settings.CELERY_BEAT_SCHEDULE)
    assert stored_schedule() == set()
    with started(
        SERVICES["beat"]["command"], cwd=image_dir, env=env, log=tmp_path / "beat.log"
    ) as beat:
        wait_until(lambda: beat.shows("beat: Starting..."), timeout=20, interval=0.1)
        # The DatabaseScheduler copies the settings' schedule into the database.
        wait_until(
            lambda: beat.running() and names <= stored_schedule(),
            timeout=20,
            interval=0.1,
            message=f"beat stored no schedule; its output is in {tmp_path}",
        )
        output = beat.output()
    assert "scheduler -> django_celery_beat.schedulers.DatabaseScheduler" in output
    assert beat.process.returncode == 0, beat.output()


def test_beat_healthcheck_fails_once_the_sweeper_has_not_run_for_ten_minutes(
    image_dir, transactional_db, redis_server
):
    sweep = PeriodicTask.objects.create(
        name="sweep-stuck-jobs",
        task=settings.CELERY_BEAT_SCHEDULE["sweep-stuck-jobs"]["task"],
        crontab=CrontabSchedule.objects.create(),
        last_run_at=timezone.now() - timedelta(minutes=1),
    )
    _, *check = SERVICES["beat"]["healthcheck"]["test"]
    env = container_env(image_dir, redis_url=redis_server.url)
    assert run(check, cwd=image_dir, env=env).returncode == 0

    sweep.last_run_at = timezone.now() - timedelta(minutes=11)
    sweep.save()
    assert run(check, cwd=image_dir, env=env).returncode == 1
