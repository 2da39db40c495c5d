from datetime import datetime

from celery import shared_task

from apps.core import operations, services, sweeper


@shared_task(soft_time_limit=20, time_limit=25)
def jobs_sweep() -> int:
    return sweeper.jobs_sweep()


# Beat, daily; the result is kept so that the admin's schedule shows it.
@shared_task(ignore_result=False, soft_time_limit=60, time_limit=70)
def job_attempts_trim() -> str:
    return services.job_attempts_trim()


# An operator's incident replay (the operations page): idempotent, as each
# job is retried only while it is still in the replayed state.
@shared_task(soft_time_limit=90, time_limit=100)
def operations_replay(label: str, state: str, start: str, end: str) -> int:
    return operations.replay_run(
        label, state, datetime.fromisoformat(start), datetime.fromisoformat(end)
    )
