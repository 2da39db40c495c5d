import functools

from celery import Task
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.db.models import Q, QuerySet
from django.utils import timezone
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


def job_row_as_stored(model: type[Job], pk, *, steady=False) -> tuple | None:
    """One job's short columns (see box_columns) as the database driver
    returns them, or None if there is no such job; whose job it is, the
    caller checks (status.box_unchanged does, with the version). With
    `steady`, also None while what its box shows changes with the clock
    alone: a retry counting down, a running job whose lease has lapsed.

    Written out in SQL because every status poll asks it: building the
    query and converting the values with the ORM costs ten times what
    running it does (bench/polling.py measures the difference it makes).
    """
    params = [pk]
    if steady:
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        params += [Job.Status.RETRYING, Job.Status.RUNNING, now]
    with connection.cursor() as cursor:
        cursor.execute(_row_statement(model, steady, connection.vendor), params)
        return cursor.fetchone()


@functools.cache
def _row_statement(model: type[Job], steady: bool, vendor: str) -> str:
    """job_row_as_stored's SQL, written once per job type (and database)."""
    quote = connection.ops.quote_name
    column = {field.name: quote(field.column) for field in model._meta.concrete_fields}
    # Names from the model, quoted; values only as parameters.
    sql = (
        f"SELECT {', '.join(quote(field.column) for field in box_columns(model))}"  # noqa: S608
        f" FROM {quote(model._meta.db_table)}"
        f" WHERE {column['id']} = %s"
    )
    if steady:
        status, lease = column["status"], column["lease_expires_at"]
        sql += (
            f" AND {status} <> %s AND NOT ({status} = %s"
            f" AND ({lease} IS NULL OR {lease} < %s))"
        )
    return sql


# Renewed every few seconds while a job runs, and never shown as such: the
# box only asks whether the lease has lapsed (Job.worker_lost).
UNSHOWN_COLUMNS = {"heartbeat_at", "lease_expires_at"}


@functools.cache
def box_columns(model) -> tuple[models.Field, ...]:
    """The columns that say whether a job's status box has changed: every
    concrete one but the long ones and the lease's, in the model's order."""
    left_out = set(long_columns(model)) | UNSHOWN_COLUMNS
    return tuple(
        field for field in model._meta.concrete_fields if field.name not in left_out
    )


def long_columns(model) -> list[str]:
    """The columns of `model` that lists leave in the database (an email's
    body, a chunk's list of people): every text and JSON field."""
    return [
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, models.TextField | models.JSONField)
    ]
