import math

from django.conf import settings
from django.db import models
from django.utils import timezone


class Job(models.Model):
    """A unit of background work a user can watch, from queued to a final state.

    Concrete jobs (an email, a payment, a report...) inherit these fields, name
    the task that does their work, and change state only through
    apps.core.services, so that every job is enqueued, claimed, retried, swept
    and shown the same way.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        RETRYING = "retrying", "Retrying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATUSES = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    # The Celery task that does the work, called with the row's id.
    task_name = ""
    # Retry policy: attempt n waits a random time up to
    # min(retry_backoff * 2**(n-1), retry_backoff_max) seconds.
    max_attempts = 5
    retry_backoff = 2
    retry_backoff_max = 300

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="%(app_label)s_%(class)ss",
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    stage = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    task_id = models.CharField(max_length=36, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def retry_in_seconds(self) -> int:
        """Whole seconds until the next attempt (0 when due or none planned)."""
        if self.next_retry_at is None:
            return 0
        return max(0, math.ceil((self.next_retry_at - timezone.now()).total_seconds()))
