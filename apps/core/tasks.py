from celery import shared_task

from apps.core import sweeper


@shared_task(soft_time_limit=20, time_limit=25)
def jobs_sweep() -> int:
    return sweeper.jobs_sweep()
