import math
import time

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Job(models.Model):
    """A unit of background work a user can watch, from queued to a final state.

    Concrete jobs (an email, a payment, a report...) inherit these fields, name
    the task that does their work (made with apps.core.job_task.job_task), and
    change state only through apps.core.services, so that every job is
    enqueued, claimed, retried, cancelled, swept and shown the same way.
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
    # Other tasks some rows of the type run with instead (see row_task_name),
    # checked like task_name: bulk emails go to their own rate-limited task.
    other_task_names: tuple[str, ...] = ()
    # A task to run next, with the same id, once the job's task has ended,
    # however it ended (a Celery chain: an invoice, then the email that
    # attaches it). Every publish carries it, the sweeper's included, so a
    # job handed to another worker still runs its next step. That task must
    # be idempotent, and do nothing while the job is not final (a duplicate
    # delivery that found the job held elsewhere ends early, and the chain
    # goes on from it too).
    chained_task_name = ""
    # Retry policy: attempt n waits a random time up to
    # min(retry_backoff * 2**(n-1), retry_backoff_max) seconds.
    max_attempts = 5
    retry_backoff = 2
    retry_backoff_max = 300
    # The task's time limits, in seconds: past the soft one the task gets
    # SoftTimeLimitExceeded (and the job fails), past the hard one its process
    # is killed.
    soft_time_limit = 20
    time_limit = 25
    # A running attempt holds the job for this long, renewed by every progress
    # update and by a heartbeat every JOB_HEARTBEAT_INTERVAL seconds. A lease
    # that lapses means the worker died: the sweeper hands the job to another.
    lease_seconds = 15
    # A job that a worker may be stopped under (a deploy need not wait for its
    # time limit): the sweeper hands it on once its lease lapses, and its next
    # attempt goes on from the work it saved (an import, batch by batch) or
    # does it again from the start (a report, whose file appears only when
    # complete); either way nothing is done twice.
    resumable = False
    # Where the owner may cancel the job from. A queued or retrying job is
    # cancelled at once; a running one stops at its next progress checkpoint.
    cancellable_statuses: tuple[str, ...] = ()
    # What an operator may do with a failed job of this type (the operations
    # page): retry it through this service, by its dotted path, called with
    # the job ("": start it again from its first attempt), and discard it.
    # A payment is retried by the rules staff follow (never charging an order
    # paid meanwhile) and never discarded (its order stays payable).
    operator_retry = ""
    operator_can_discard = True
    # The live status box of one job, and its badge in a list: templates that
    # extend core/_job_status.html and core/_job_badge.html to add their own.
    status_template = "core/_job_status.html"
    badge_template = "core/_job_badge.html"

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
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    attempt_history = GenericRelation(
        "core.JobAttempt", content_type_field="job_type", object_id_field="job_id"
    )

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @classmethod
    def from_db(cls, db, field_names, values):
        job = super().from_db(db, field_names, values)
        # When its row was read, near enough (apps.core.changes.CLOCK_MARGIN
        # covers the moment between the query and this): a box drawn from
        # the instance shows the row as it was then (status.box_version).
        # Values changed on the instance and not saved are no longer the
        # row's: draw a box from such an instance only after saving it.
        job.loaded_at = time.time()
        return job

    @classmethod
    def slow_queue(cls) -> tuple[Q, int] | None:
        """Rows that may rightly wait long in their queue, and for how long
        (seconds) before the sweeper publishes them again; None: every row
        waits JOB_QUEUED_LEASE. Bulk mail behind its rate limit is such a
        row: republished early, each copy would take a slot of that limit."""
        return None

    def row_task_name(self) -> str:
        """The task this row runs with: task_name, or one of other_task_names
        for a job type whose rows differ (an announcement's email is bulk mail,
        a welcome email is not)."""
        return self.task_name

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def can_cancel(self) -> bool:
        return self.status in self.cancellable_statuses and not (
            self.status == self.Status.RUNNING and self.cancel_requested_at
        )

    @property
    def retry_in_seconds(self) -> int:
        """Whole seconds until the next attempt (0 when due or none planned)."""
        if self.next_retry_at is None:
            return 0
        return max(0, math.ceil((self.next_retry_at - timezone.now()).total_seconds()))

    @property
    def worker_lost(self) -> bool:
        """Running, but its worker has not renewed the lease: it probably died."""
        # The same test as apps.core.selectors.lease_lapsed, on one row.
        return self.status == self.Status.RUNNING and (
            self.lease_expires_at is None or self.lease_expires_at < timezone.now()
        )

    @property
    def retry_overdue(self) -> bool:
        """Waiting to retry for a while past its time: no worker has taken it."""
        return (
            self.status == self.Status.RETRYING
            and self.next_retry_at is not None
            and (timezone.now() - self.next_retry_at).total_seconds() > 5
        )


class JobAttempt(models.Model):
    """One run of a job by a worker, kept after the job ends.

    Written only by apps.core.services; pages draw a job's attempts as a time
    strip and an event log, and the admin lists them inline.
    """

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        RETRY = "retry", "Failed, retried"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"

    job_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    job_id = models.PositiveBigIntegerField()
    job = GenericForeignKey("job_type", "job_id")
    number = models.PositiveSmallIntegerField()
    task_id = models.CharField(max_length=36, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, default=Outcome.RUNNING
    )
    # What the user reads, and what staff need to find the cause.
    error = models.CharField(max_length=500, blank=True)
    error_detail = models.TextField(blank=True)
    retry_at = models.DateTimeField(null=True, blank=True)
    # Seconds the job waited for this attempt: from its publish (or, for a
    # retry, from when the retry fell due) to a worker claiming it.
    waited_seconds = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [
            models.Index(fields=["job_type", "job_id", "started_at"]),
            # The last hour's attempts (the operations page, /metrics).
            models.Index(fields=["finished_at"]),
        ]

    def __str__(self):
        return f"Attempt {self.number} ({self.get_outcome_display()})"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class OperatorAction(models.Model):
    """Something an operator did on the operations page (who, when, what),
    shown there: a retried job, a paused queue, a replayed incident."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=50)
    # What it was done to, in words: "quick", "orders.payment #12", "3 jobs".
    target = models.CharField(max_length=300)
    count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.action} {self.target}"


class SweeperRun(models.Model):
    """What the sweeper did at its last run, and when it last found something
    stuck: one row, rewritten by every sweep, shown on the operations page."""

    at = models.DateTimeField()
    republished = models.PositiveIntegerField(default=0)
    last_found_at = models.DateTimeField(null=True, blank=True)
    last_found = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"Sweep at {self.at:%Y-%m-%d %H:%M:%S}: {self.republished} republished"


class QueuePause(models.Model):
    """A queue an operator paused, and the workers that consumed it then:
    Resume gives it back to those alone, a worker that starts meanwhile
    leaves it alone, and the sweeper does not pile copies into it."""

    queue = models.CharField(max_length=50, unique=True)
    workers = models.JSONField(default=list)
    at = models.DateTimeField(auto_now_add=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    def __str__(self):
        return f"{self.queue} paused"
