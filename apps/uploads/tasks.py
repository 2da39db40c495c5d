from celery import shared_task

from apps.core.job_task import job_task
from apps.uploads import services
from apps.uploads.models import Image, UploadBatch


# One image's thumbnails. Chords count results, so this one keeps its own.
@job_task(Image, ignore_result=False)
def image_process(image: Image) -> None:
    services.image_process(image=image)


# The batch's chord callback: once every image has ended. Idempotent.
@shared_task(soft_time_limit=20, time_limit=25)
def upload_batch_done(batch_id: int) -> None:
    batch = UploadBatch.objects.filter(pk=batch_id).first()
    if batch is not None:
        services.upload_batch_notify(batch=batch)


# After an image republished by the sweeper (outside its chord) has ended:
# the same check, so that its batch is still told once.
@shared_task(soft_time_limit=20, time_limit=25)
def upload_batch_check(image_id: int) -> None:
    image = Image.objects.select_related("batch").filter(pk=image_id).first()
    if image is not None:
        services.upload_batch_notify(batch=image.batch)


# Daily; idempotent.
@shared_task(ignore_result=False, soft_time_limit=50, time_limit=60)
def uploads_clean() -> str:
    removed = services.uploads_clean()
    return f"Removed {removed} folders or files."
