from celery import Task
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q, QuerySet
from django.utils.module_loading import import_string

from apps.core.models import Job, JobAttempt


def job_models() -> list[type[Job]]:
    """Every concrete Job model of the project (proxies share their model's rows)."""
    return [
        model
        for model in apps.get_models()
        if issubclass(model, Job) and model.task_name and not model._meta.proxy
    ]


def job_type_name(model: type[Job]) -> str:
    """A job type as people call it: "Order import"."""
    return str(model._meta.verbose_name).capitalize()


def job_types() -> list[tuple[str, str]]:
    """(label, name) of every job type, by name, for filters and choices:
    ("orders.payment", "Payment")."""
    return sorted(
        ((model._meta.label_lower, job_type_name(model)) for model in job_models()),
        key=lambda pair: pair[1],
    )


def job_model(label: str) -> type[Job] | None:
    """The Job model called `label` ("orders.payment"), or None."""
    for model in job_models():
        if model._meta.label_lower == label:
            return model
    return None


def lease_lapsed(now) -> Q:
    """Running jobs whose worker has stopped renewing their lease: it died, or
    (a row from before leases existed) never had one."""
    return Q(status=Job.Status.RUNNING) & (
        Q(lease_expires_at__lt=now) | Q(lease_expires_at__isnull=True)
    )


def job_row_held(job: Job) -> QuerySet[Job]:
    """The job's row while the attempt that loaded `job` still holds it:
    running, with its task id. Empty once another attempt took the job over,
    or the job ended."""
    return type(job).objects.filter(
        pk=job.pk, status=Job.Status.RUNNING, task_id=job.task_id
    )


def job_task(model: type[Job], name: str = "") -> Task:
    """The task that runs `model`'s jobs: its task_name, or `name` (a
    row's own, from Job.row_task_name).

    Imported by its dotted path rather than looked up in Celery's registry: a
    web process has not imported every tasks.py, a worker has.
    """
    return import_string(name or model.task_name)


def jobs_of(model: type[Job], *, owner, ids) -> QuerySet[Job]:
    """The jobs of `model` with these ids that are `owner`'s; others are left out."""
    return model.objects.filter(owner=owner, pk__in=ids)


def job_attempts(job: Job) -> list[JobAttempt]:
    """The job's attempts, oldest first, across every run of it."""
    return list(
        JobAttempt.objects.filter(
            job_type=ContentType.objects.get_for_model(job, for_concrete_model=True),
            job_id=job.pk,
        )
    )


def long_columns(model) -> list[str]:
    """The columns of `model` that lists leave in the database (an email's
    body, a chunk's list of people): every text and JSON field."""
    return [
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, models.TextField | models.JSONField)
    ]
