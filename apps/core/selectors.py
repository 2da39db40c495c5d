from datetime import timedelta

from celery import current_app
from django.apps import apps

from apps.core.models import Job

# A running attempt older than its task's hard time limit plus this margin is
# dead: Celery would have killed it by then.
RUNNING_LEASE_MARGIN = 30


def job_models() -> list[type[Job]]:
    """Every concrete Job model of the project."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, Job) and model.task_name
    ]


def job_running_lease(model: type[Job]) -> timedelta:
    task = current_app.tasks[model.task_name]
    hard_limit = task.time_limit or current_app.conf.task_time_limit
    return timedelta(seconds=hard_limit + RUNNING_LEASE_MARGIN)
