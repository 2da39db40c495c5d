"""
System checks that keep the Celery configuration safe to run.

Redis hands an unacknowledged message to another worker once the visibility
timeout passes. With acks_late, a task still running then, or a retry waiting
longer than that, would run twice. So every hard time limit and every retry
delay must stay below the timeout; `manage.py check` and the worker and beat
start-up (config/celery.py) refuse anything else.
"""

from celery import Celery, current_app
from django.apps import apps
from django.conf import settings
from django.core import checks
from django.utils.module_loading import autodiscover_modules, import_string

from apps.core import selectors
from apps.core.job_task import JobTask
from apps.core.models import Job


def celery_limit_errors(app: Celery) -> list[checks.CheckMessage]:
    # A worker imports every tasks.py at start-up; a management command has not
    # yet. (Not app.loader.import_default_modules: under a worker it runs these
    # checks itself.)
    autodiscover_modules("tasks")
    conf = app.conf
    timeout = conf.broker_transport_options.get("visibility_timeout", 3600)
    errors = []

    def error(msg, id):
        errors.append(checks.Error(msg, id=id, obj="config.celery"))

    job_models = selectors.job_models()
    for model in apps.get_models():
        if issubclass(model, Job) and not model._meta.proxy and not model.task_name:
            # Without a task it is never run, swept or shown.
            error(f"{model.__name__} is a Job without a task_name.", "core.E008")
    for model in job_models:
        for name in (model.task_name, *model.other_task_names):
            task = app.tasks.get(name)  # Also catches a mistyped path.
            if task is None:
                error(f"{model.__name__}.task_name {name}: no task.", "core.E005")
            elif not isinstance(task, JobTask) or task.model is not model:
                # Only the base claims, retries, cancels and fails jobs the
                # same way.
                error(
                    f"{model.__name__}.task_name {name}: not made with "
                    f"@job_task({model.__name__}) (apps.core.job_task).",
                    "core.E006",
                )
        if model.operator_retry:
            try:
                import_string(model.operator_retry)
            except ImportError:
                error(
                    f"{model.__name__}.operator_retry {model.operator_retry}: "
                    "no such function.",
                    "core.E010",
                )
        if model.chained_task_name and model.chained_task_name not in app.tasks:
            error(
                f"{model.__name__}.chained_task_name {model.chained_task_name}: "
                "no task.",
                "core.E009",
            )
    for name, task in sorted(app.tasks.items()):
        if name.startswith("celery."):
            continue  # Celery's own tasks run on the global limits checked below.
        hard = task.time_limit or conf.task_time_limit
        soft = task.soft_time_limit or conf.task_soft_time_limit
        if not hard or not soft:
            error(f"Task {name} has no soft and hard time limit.", "core.E001")
            continue
        if soft >= hard:
            error(
                f"Task {name}: soft limit {soft}s is not below hard {hard}s.",
                "core.E002",
            )
        if hard >= timeout:
            error(
                f"Task {name}: hard limit {hard}s is not below the broker's "
                f"visibility timeout {timeout}s.",
                "core.E003",
            )
        # A retry waits in the worker, unacknowledged, for its countdown and
        # then runs: both together must end before the timeout.
        longest_delay = max(
            getattr(task, "retry_backoff_max", 600)
            if getattr(task, "autoretry_for", ())
            else 0,
            task.default_retry_delay or 0,
            *(
                m.retry_backoff_max
                for m in job_models
                if name in (m.task_name, *m.other_task_names)
            ),
        )
        if longest_delay + hard >= timeout:
            error(
                f"Task {name}: a retry may wait {longest_delay}s and run {hard}s, "
                f"not below the broker's visibility timeout {timeout}s.",
                "core.E004",
            )
    for model in job_models:
        # Two missed heartbeats must not be enough to take a live job for dead.
        if model.lease_seconds <= 2 * settings.JOB_HEARTBEAT_INTERVAL:
            error(
                f"{model.__name__}.lease_seconds {model.lease_seconds}s is not above "
                f"twice JOB_HEARTBEAT_INTERVAL ({settings.JOB_HEARTBEAT_INTERVAL}s).",
                "core.E007",
            )
    if not conf.task_time_limit or conf.task_time_limit >= timeout:
        error(
            "CELERY_TASK_TIME_LIMIT must be set and below the visibility timeout.",
            "core.E003",
        )
    return errors


@checks.register("celery")
def check_celery_limits(app_configs, **kwargs):
    # The project's Celery app, which config/__init__.py loads with Django.
    return celery_limit_errors(current_app)


@checks.register("celery")
def check_eager_mode(app_configs, **kwargs):
    # Eager mode runs tasks inside the web request: fine for tests, never for a
    # deployment, where it would hide every broker and worker fault.
    if settings.CELERY_TASK_ALWAYS_EAGER and not settings.DEBUG:
        return [
            checks.Warning(
                "CELERY_TASK_ALWAYS_EAGER is on outside DEBUG: tasks run in the "
                "web process.",
                id="core.W001",
            )
        ]
    return []
