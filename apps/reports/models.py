from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.models import Job


class Report(Job):
    """A PDF about the owner's orders over a date range, rendered by a worker.

    The file lives in default storage under an unguessable name until it
    expires (REPORT_RETENTION_DAYS after it was made); beat then deletes the
    file and keeps the row, marked expired, so the list still explains it.
    """

    class Kind(models.TextChoices):
        SALES_SUMMARY = "sales_summary", "Sales summary"
        ORDER_HISTORY = "order_history", "Order history"
        FAILED_PAYMENTS = "failed_payments", "Failed payments"

    task_name = "apps.reports.tasks.report_generate"
    # A render fails the same way each time; attempts are for lost workers
    # (a deploy may stop one under a long report).
    max_attempts = 5
    retry_backoff = 5
    retry_backoff_max = 60
    # Past the soft limit the report fails, saying so, and leaves no file.
    soft_time_limit = settings.REPORT_SOFT_TIME_LIMIT
    time_limit = settings.REPORT_SOFT_TIME_LIMIT + 30
    # One part of the PDF (REPORT_ROWS_PER_PART rows) takes a few seconds,
    # and the progress after each renews the lease; so does the heartbeat.
    lease_seconds = 30
    # Longer than a deploy waits: cut off, a report is rendered again from
    # the start by the next attempt (the PDF appears only when complete).
    resumable = True
    cancellable_statuses = (Job.Status.QUEUED, Job.Status.RETRYING, Job.Status.RUNNING)
    status_template = "reports/_report_status.html"
    badge_template = "reports/_report_badge.html"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    start = models.DateField()
    end = models.DateField()  # Inclusive.
    # Where the PDF is (default storage), under an unguessable name; emptied
    # when it expires or is deleted.
    stored_file = models.CharField(max_length=200, blank=True)
    rows = models.PositiveIntegerField(default=0)  # Orders or payments in it.
    pages = models.PositiveIntegerField(default=0)
    size = models.PositiveBigIntegerField(default=0)  # Bytes.
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"{self.get_kind_display()} {self.start} – {self.end}"

    def get_absolute_url(self):
        return reverse("reports:detail", args=[self.pk])

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.SUCCEEDED and bool(self.stored_file)

    @property
    def rows_noun(self) -> str:
        """What one row of this kind of report is."""
        return {
            self.Kind.SALES_SUMMARY: "paid order",
            self.Kind.ORDER_HISTORY: "order",
            self.Kind.FAILED_PAYMENTS: "failed attempt",
        }[self.kind]

    @property
    def download_name(self) -> str:
        return f"{self.kind.replace('_', '-')}-{self.start}-to-{self.end}.pdf"
