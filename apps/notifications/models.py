from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from apps.core.models import Job

# The emails sent as bulk mail: to many people at once, never urgent.
BULK_TEMPLATES = frozenset({"announcement", "digest"})


class OutgoingEmail(Job):
    """One email to one user: rendered when queued, sent and recorded by a worker.

    The owner is the recipient; the row is also what /mailbox/ shows.
    """

    task_name = "apps.notifications.tasks.email_send"
    # Announcements and digests: the same sending, on the bulk queue and
    # under its rate limit (row_task_name).
    other_task_names = ("apps.notifications.tasks.email_send_bulk",)
    # SMTP outages are usually short; give up after about five minutes.
    max_attempts = 5
    retry_backoff = 10
    retry_backoff_max = 120
    status_template = "notifications/_email_status.html"
    badge_template = "notifications/_email_badge.html"

    template = models.CharField(max_length=100)
    to_address = models.EmailField()
    from_address = models.CharField(max_length=254)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    # Files sent with it, each {"name": its default-storage name,
    # "filename": as the recipient sees it, "content_type": ...}; read from
    # storage when the email is sent, so the row stays small.
    attachments = models.JSONField(default=list, blank=True)
    # One email per key: a second request with the same key gets the first row,
    # which is how "one welcome email per user" holds under parallel delivery.
    idempotency_key = models.CharField(max_length=200, unique=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta(Job.Meta):
        verbose_name = "outgoing email"
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return f"{self.subject} → {self.to_address}"

    @classmethod
    def slow_queue(cls):
        # Ten thousand emails at 20 a second take over eight minutes; a bulk
        # email lost with the broker is sent an hour late, which is fine.
        return Q(template__in=BULK_TEMPLATES), settings.EMAIL_BULK_QUEUED_LEASE

    def row_task_name(self) -> str:
        if self.template in BULK_TEMPLATES:
            return self.other_task_names[0]
        return self.task_name

    def get_absolute_url(self):
        return reverse("notifications:email_detail", args=[self.pk])


class Notification(models.Model):
    """Something that finished for a user (an import, a payment...), shown
    in their notifications until read. Made by services.notify."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # What it is about: a key of kinds.KINDS, for preferences.
    kind = models.CharField(max_length=50)
    message = models.CharField(max_length=300)
    url = models.CharField(max_length=200, blank=True)  # Its object's page.
    # One notification per key: a redelivered task does not notify twice.
    idempotency_key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "read_at"])]

    def __str__(self):
        return self.message


class NotificationPreferences(models.Model):
    """What a user chose: which kinds of notification also arrive by email,
    and whether a daily digest of the unread ones does. No row: the kinds'
    defaults (kinds.py) and no digest."""

    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # The kinds emailed; every kind not listed is not.
    email_kinds = models.JSONField(default=list, blank=True)
    digest = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "notification preferences"

    def __str__(self):
        return f"Preferences of user {self.owner_id}"


class Announcement(Job):
    """A message from staff to every user, or some. Its job is the fan-out:
    it splits the audience into AnnouncementChunk jobs, each of which tells
    its people once. The owner is the staff member."""

    class Audience(models.TextChoices):
        EVERYONE = "everyone", "Everyone"
        VERIFIED = "verified", "People who confirmed their address"
        RECENT = "recent", "People who joined in the last 30 days"
        STAFF = "staff", "Staff only (to try it out)"

    task_name = "apps.notifications.tasks.announcement_send"
    # It only splits the audience and publishes the chunks: quick, but it may
    # meet a broker hiccup.
    max_attempts = 3

    subject = models.CharField(max_length=120)
    body = models.TextField(max_length=2000)
    audience = models.CharField(max_length=20, choices=Audience.choices)
    recipients = models.PositiveIntegerField(default=0)
    chunks = models.PositiveIntegerField(default=0)
    # Set once every chunk has ended (the chunks' chord callback).
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["-created_at"])]

    def __str__(self):
        return f"Announcement: {self.subject}"

    def get_absolute_url(self):
        # Staff's: the admin page shows the fan-out's attempts.
        return reverse("admin:notifications_announcement_change", args=[self.pk])


class AnnouncementChunk(Job):
    """Up to ANNOUNCEMENT_CHUNK_SIZE people of an announcement's audience,
    told by one task: a job of its own, so that a chunk lost with its worker
    is found by the sweeper and delivered, and one delivered twice tells
    nobody twice (its end commits with its notifications)."""

    task_name = "apps.notifications.tasks.announcement_chunk_deliver"
    # A chunk the sweeper republished runs outside the chord: this still
    # records the announcement as delivered once its last chunk ends.
    chained_task_name = "apps.notifications.tasks.announcement_delivered_check"
    max_attempts = 5
    soft_time_limit = 90
    time_limit = 100

    announcement = models.ForeignKey(
        Announcement, on_delete=models.CASCADE, related_name="parts"
    )
    number = models.PositiveIntegerField()
    user_ids = models.JSONField()
    delivered = models.PositiveIntegerField(default=0)

    class Meta(Job.Meta):
        verbose_name = "announcement chunk"
        constraints = [
            models.UniqueConstraint(
                fields=["announcement", "number"], name="announcement_chunk_once"
            )
        ]

    def __str__(self):
        return f"Chunk {self.number + 1} of announcement #{self.announcement_id}"

    def get_absolute_url(self):
        return reverse("admin:notifications_announcementchunk_change", args=[self.pk])
