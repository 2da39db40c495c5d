"""
A user's activity: every background job of theirs, of every type, newest
first, read from the job tables themselves (no copy of their state).

One query per job type per page: each type's newest jobs before the cursor,
merged. The order is (created, type, id), newest first, and the cursor is
the last job shown in those three, so page 50 costs what page 1 does and
jobs created in the same instant are neither skipped nor shown twice.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q
from django.utils.dateparse import parse_datetime

from apps.core import selectors as jobs
from apps.core.models import Job

PAGE_SIZE = 25


@dataclass(frozen=True, order=True)
class Cursor:
    """Where a page ends: its last job's creation time, type and id."""

    created_at: datetime
    label: str
    pk: int

    @classmethod
    def of(cls, job: Job) -> "Cursor":
        return cls(job.created_at, job._meta.label_lower, job.pk)

    @classmethod
    def parse(cls, text: str) -> "Cursor | None":
        """The cursor in a link (?before=), or None for anything else."""
        created, _, rest = text.partition("|")
        label, _, pk = rest.partition("|")
        try:
            when = parse_datetime(created)
        except ValueError:  # Looks like a date-time, but is not one.
            return None
        if when is None or not pk.isascii() or not pk.isdigit() or len(pk) > 18:
            return None
        return cls(when, label, int(pk))

    def __str__(self):
        return f"{self.created_at.isoformat()}|{self.label}|{self.pk}"

    def older(self, label: str) -> Q:
        """The rows of the job type `label` that come after it."""
        same_instant = Q(created_at=self.created_at)
        if label == self.label:
            same_instant &= Q(pk__lt=self.pk)
        elif label > self.label:
            same_instant = Q(pk__in=[])  # Sorted before this cursor: shown.
        return Q(created_at__lt=self.created_at) | same_instant


@dataclass(frozen=True)
class ActivityPage:
    jobs: list[Job]
    # The cursor of the next (older) page, or None on the last.
    older: Cursor | None


def activity_of(
    user, *, kind: str = "", state: str = "", before: Cursor | None = None
) -> ActivityPage:
    """A page of `user`'s jobs, filtered by type label and status."""
    found: list[Job] = []
    for model in jobs.job_models():
        label = model._meta.label_lower
        if kind and label != kind:
            continue
        rows = model.objects.filter(owner=user)
        if state:
            rows = rows.filter(status=state)
        if before:
            rows = rows.filter(before.older(label))
        # The long columns (an email's body, a chunk's list of people) are
        # not shown: leave them in the database.
        found += rows.defer(*jobs.long_columns(model)).order_by("-created_at", "-pk")[
            : PAGE_SIZE + 1
        ]
    found.sort(key=Cursor.of, reverse=True)
    page = found[:PAGE_SIZE]
    older = Cursor.of(page[-1]) if len(found) > PAGE_SIZE else None
    return ActivityPage(page, older)
