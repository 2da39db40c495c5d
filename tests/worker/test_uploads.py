"""Image uploads through a real Redis broker and a real `celery worker`: the
batch's chord runs its callback once every image is done."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.notifications.models import Notification
from apps.uploads import services
from apps.uploads.models import Image, UploadBatch
from tests.processes import wait_until
from tests.uploads.images import photo

pytestmark = [pytest.mark.worker]


def test_a_worker_makes_a_batchs_thumbnails_and_the_chord_notifies_once(
    celery_worker, user
):
    upload = services.images_upload(
        owner=user,
        files=[
            SimpleUploadedFile(f"photo-{n}.jpg", photo(3000, 2000, orientation=1 + n))
            for n in range(4)
        ],
    )

    wait_until(
        lambda: UploadBatch.objects.get(pk=upload.batch.pk).notified_at is not None,
        timeout=60,
        message=f"the batch was not notified:\n{celery_worker.output()}",
    )
    assert set(Image.objects.values_list("status", flat=True)) == {"succeeded"}
    assert all(len(image.thumbnails) == 3 for image in Image.objects.all())
    [notice] = Notification.objects.filter(owner=user)
    assert notice.message == "4 images ready in your gallery."
    assert celery_worker.output().count("upload_batch_done[") >= 1
