"""Image uploads: checked and stored by the web, thumbnails made by a worker,
one notification per batch.

Follow one upload: `images_upload` (web) checks every file (checks.py),
stores the good ones under unguessable names and enqueues their jobs as one
Celery chord; `image_process` (worker, through the job task base) makes the
thumbnails (thumbnails.py); when every image of the batch has ended, the
chord's callback runs `upload_batch_notify`, which tells the owner once.
"""

import logging
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone

from apps.core import services as jobs
from apps.core.exceptions import JobTakenOver
from apps.notifications import services as notifications
from apps.uploads import checks, thumbnails
from apps.uploads.models import Image, UploadBatch

logger = logging.getLogger(__name__)

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
DAMAGED = (
    "This image is damaged or cut short, so no thumbnails could be made. "
    "Upload the file again, or another copy of it."
)


@dataclass
class Upload:
    """What an upload did: the batch of images taken (None if none was), and
    a message for each file refused."""

    batch: UploadBatch | None = None
    images: list[Image] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@transaction.atomic
def images_upload(*, owner, files) -> Upload:
    """Check each file, store the good ones and have a worker make their
    thumbnails; the refused ones are reported, one message each."""
    upload = Upload()
    if len(files) > settings.UPLOAD_MAX_FILES:
        upload.refused.append(
            f"That is {len(files)} files; upload at most "
            f"{settings.UPLOAD_MAX_FILES} at a time."
        )
        return upload
    total = sum(file.size for file in files)
    if total > settings.UPLOAD_MAX_REQUEST_BYTES:
        upload.refused.append(
            f"These files come to {filesizeformat(total)}; upload at most "
            f"{filesizeformat(settings.UPLOAD_MAX_REQUEST_BYTES)} at a time."
        )
        return upload
    taken = []
    for file in files:
        name = (file.name or "image")[:255]
        try:
            header = checks.check_image(file, name=name, size=file.size)
        except checks.ImageRefused as refused:
            upload.refused.append(refused.message)
        else:
            taken.append((file, name, header))
    if not taken:
        return upload
    upload.batch = UploadBatch.objects.create(owner=owner)
    for file, name, header in taken:
        folder = f"uploads/{secrets.token_urlsafe(18)}"
        # Named by what it is, never by the uploader's name or extension.
        original = default_storage.save(
            f"{folder}/original.{EXTENSIONS[header.format]}", file, max_length=200
        )
        upload.images.append(
            Image.objects.create(
                owner=owner,
                batch=upload.batch,
                name=name,
                format=header.format,
                width=header.width,
                height=header.height,
                size=file.size,
                folder=folder,
                original=original,
                stage="Waiting for a worker",
            )
        )
    jobs.job_enqueue_group(
        upload.images,
        then=current_app.signature(
            "apps.uploads.tasks.upload_batch_done",
            args=(upload.batch.pk,),
            immutable=True,
        ),
    )
    return upload


def image_process(*, image: Image) -> None:
    """Make the image's thumbnails; run by the worker once per attempt."""
    jobs.job_progress(image, progress=10, stage="Making thumbnails")
    try:
        made = thumbnails.make_thumbnails(
            Path(default_storage.path(image.original)),
            Path(default_storage.path(image.folder)),
            "thumbnail",
        )
    except thumbnails.ImageUnreadable as exc:
        jobs.job_fail(image, message=DAMAGED, detail=str(exc))
        return
    except FileNotFoundError:
        if Image.objects.filter(pk=image.pk).exists():
            raise
        # Deleted while its thumbnails were being made, folder and all:
        # nothing to finish.
        raise JobTakenOver from None
    jobs.job_succeed(
        image,
        stage="Ready",
        thumbnails=[
            {
                "size": thumbnail.size,
                "name": f"{image.folder}/{thumbnail.path.name}",
                "width": thumbnail.width,
                "height": thumbnail.height,
                "bytes": thumbnail.bytes,
            }
            for thumbnail in made
        ],
    )


@transaction.atomic
def upload_batch_notify(*, batch: UploadBatch) -> bool:
    """Tell the owner the batch is done, once, when every image has ended;
    True if this call told them. Any number of calls notify once."""
    images = list(batch.images.all())
    if not images:
        # Every image was deleted before it was done: nothing to tell, and
        # no batch to keep.
        batch.delete()
        return False
    if any(not image.is_final for image in images):
        return False
    if not UploadBatch.objects.filter(pk=batch.pk, notified_at=None).update(
        notified_at=timezone.now()
    ):
        return False  # Told already (a redelivered callback).
    ready = sum(image.status == Image.Status.SUCCEEDED for image in images)
    failed = len(images) - ready
    message = f"{ready} image{'s' if ready != 1 else ''} ready in your gallery."
    if failed:
        message += f" {failed} could not be processed."
    notifications.notify(
        owner=batch.owner,
        kind="images_done",
        message=message,
        url=reverse("uploads:gallery"),
        idempotency_key=f"upload_batch:{batch.pk}",
    )
    return True


@transaction.atomic
def image_delete(*, image: Image) -> None:
    """Delete the image and its files (the original and the thumbnails)."""
    folder = image.folder
    image.delete()
    transaction.on_commit(lambda: _remove_folder(folder))


def uploads_clean() -> int:
    """Delete failed images older than a week, folders under uploads/
    that no image owns (a delete interrupted between the row and its files,
    an upload whose transaction rolled back) and half-written thumbnails a
    killed worker left; returns how many folders and files went."""
    week_ago = timezone.now() - timedelta(days=7)
    removed = 0
    for image in Image.objects.filter(
        status=Image.Status.FAILED, finished_at__lt=week_ago
    ).iterator():
        image_delete(image=image)
        removed += 1
    root = Path(default_storage.path("uploads"))
    if root.is_dir():
        owned = set(Image.objects.values_list("folder", flat=True))
        day_ago = (timezone.now() - timedelta(days=1)).timestamp()
        for folder in root.iterdir():
            if folder.stat().st_mtime >= day_ago:
                continue  # An upload may be arriving in it right now.
            if f"uploads/{folder.name}" not in owned:
                _remove_folder(f"uploads/{folder.name}")
                removed += 1
                continue
            for part in folder.glob(".*.part"):
                if part.stat().st_mtime < day_ago:
                    part.unlink(missing_ok=True)
                    removed += 1
    return removed


def _remove_folder(folder: str) -> None:
    shutil.rmtree(default_storage.path(folder), ignore_errors=True)
