from django.conf import settings
from django.db import models
from django.urls import reverse

from apps.core.models import Job


class UploadBatch(models.Model):
    """The images of one upload, whose owner is told once when all are done."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set by the one notification; a redelivered callback finds it set.
    notified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Upload #{self.pk}"


class Image(Job):
    """One uploaded image, checked by the web and made into thumbnails by a
    worker. Its files live in default storage under unguessable names."""

    task_name = "apps.uploads.tasks.image_process"
    # Run after the job ends when the sweeper republished it outside its
    # batch's chord: the batch still gets its one notification.
    chained_task_name = "apps.uploads.tasks.upload_batch_check"
    max_attempts = 3
    retry_backoff = 5
    retry_backoff_max = 60
    soft_time_limit = 60
    time_limit = 75
    badge_template = "uploads/_image_badge.html"

    batch = models.ForeignKey(
        UploadBatch, on_delete=models.CASCADE, related_name="images"
    )
    name = models.CharField(max_length=255)  # As uploaded, for display.
    format = models.CharField(max_length=10)  # JPEG, PNG or WEBP, by content.
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveBigIntegerField()  # Bytes.
    # A folder of its own under uploads/, named at random: the original and
    # each thumbnail live in it.
    folder = models.CharField(max_length=100)
    original = models.CharField(max_length=200)
    # [{"size": 1280, "name": ..., "width": ..., "height": ..., "bytes": ...}]
    thumbnails = models.JSONField(default=list, blank=True)

    class Meta(Job.Meta):
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("uploads:detail", args=[self.pk])

    def thumbnail(self, size: int) -> dict | None:
        return next((t for t in self.thumbnails if t["size"] == size), None)

    # For templates, which cannot pass an argument.
    @property
    def thumbnail_160(self):
        return self.thumbnail(160)

    @property
    def thumbnail_480(self):
        return self.thumbnail(480)

    @property
    def thumbnail_1280(self):
        return self.thumbnail(1280)
