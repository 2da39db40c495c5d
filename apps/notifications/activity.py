"""
A user's activity: every background job of theirs, of every type, newest
first, read from the job tables themselves (no copy of their state).

One query per job type per page: each type's newest jobs before the cursor,
merged by creation time. Paging is by cursor (the creation time of the last
job shown), so page 50 costs what page 1 does.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import models

from apps.core import selectors as jobs
from apps.core.models import Job

PAGE_SIZE = 25


@dataclass(frozen=True)
class ActivityPage:
    jobs: list[Job]
    # The cursor of the next (older) page, or None on the last.
    older: datetime | None


def job_types() -> list[tuple[str, str]]:
    """(label, name) of every job type, for the filter: ("orders.payment",
    "Payment")."""
    return sorted(
        (model._meta.label_lower, str(model._meta.verbose_name).capitalize())
        for model in jobs.job_models()
    )


def activity_of(
    user, *, kind: str = "", state: str = "", before: datetime | None = None
) -> ActivityPage:
    """A page of `user`'s jobs, filtered by type label and status."""
    found: list[Job] = []
    for model in jobs.job_models():
        if kind and model._meta.label_lower != kind:
            continue
        rows = model.objects.filter(owner=user)
        if state:
            rows = rows.filter(status=state)
        if before:
            rows = rows.filter(created_at__lt=before)
        # The long columns (an email's body, an import's rejected rows) are
        # not shown: leave them in the database.
        heavy = [
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, models.TextField | models.JSONField)
        ]
        found += rows.defer(*heavy).order_by("-created_at", "-pk")[: PAGE_SIZE + 1]
    found.sort(key=lambda job: job.created_at, reverse=True)
    page = found[:PAGE_SIZE]
    older = page[-1].created_at if len(found) > PAGE_SIZE else None
    return ActivityPage(page, older)
