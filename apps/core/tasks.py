from celery import shared_task

from apps.core import services


@shared_task(soft_time_limit=50, time_limit=60)
def jobs_sweep() -> int:
    return services.jobs_sweep()
