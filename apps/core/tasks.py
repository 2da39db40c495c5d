from celery import shared_task

from apps.core import services, sweeper


@shared_task(soft_time_limit=20, time_limit=25)
def jobs_sweep() -> int:
    return sweeper.jobs_sweep()


# Beat, daily; the result is kept so that the admin's schedule shows it.
@shared_task(ignore_result=False, soft_time_limit=60, time_limit=70)
def job_attempts_trim() -> str:
    return services.job_attempts_trim()
