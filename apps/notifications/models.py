from django.conf import settings
from django.db import models

from apps.core.models import Job


class OutgoingEmail(Job):
    """One email to one user: rendered when queued, sent and recorded by a worker.

    The owner is the recipient; the row is also what /mailbox/ shows.
    """

    task_name = "apps.notifications.tasks.email_send"
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


class Notification(models.Model):
    """Something that finished for a user (an import, a payment...), shown
    in their notifications until read. Made by services.notify."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    # What it is about, for filtering and (later) per-kind preferences.
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
