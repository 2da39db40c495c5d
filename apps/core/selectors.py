from datetime import timedelta

from celery import Task, current_app
from django.apps import apps
from django.utils.module_loading import import_string

from apps.core.models import Job

# A running attempt older than its task's hard time limit plus this margin is
# dead: Celery would have killed it by then.
RUNNING_LEASE_MARGIN = 30


def job_models() -> list[type[Job]]:
    """Every concrete Job model of the project (proxies share their model's rows)."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, Job) and model.task_name and not model._meta.proxy
    ]


def job_task(model: type[Job]) -> Task:
    """The task that runs `model`'s jobs.

    Imported by its dotted path rather than looked up in Celery's registry: a
    web process has not imported every tasks.py, a worker has.
    """
    return import_string(model.task_name)


def job_running_lease(model: type[Job]) -> timedelta:
    task = job_task(model)
    hard_limit = task.time_limit or current_app.conf.task_time_limit
    return timedelta(seconds=hard_limit + RUNNING_LEASE_MARGIN)
