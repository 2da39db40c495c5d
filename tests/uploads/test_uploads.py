"""Uploading images, run inline (eager): the gallery, the thumbnails, the one
notification per batch, who may see what, and deleting."""

from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.notifications.models import Notification
from apps.uploads import services, tasks
from apps.uploads.models import Image, UploadBatch
from tests.factories import UserFactory
from tests.uploads.images import gif, photo, png_with_alpha

pytestmark = pytest.mark.django_db


def files(*items):
    return [SimpleUploadedFile(name, data) for name, data in items]


@pytest.fixture
def upload(client, user, django_capture_on_commit_callbacks):
    client.force_login(user)

    def send(*items):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("uploads:gallery"), {"images": files(*items)}, follow=True
            )

    return send


def test_a_batch_is_checked_processed_and_notified_once(upload, user):
    page = upload(
        ("a.jpg", photo(2000, 1500, orientation=6)),
        ("logo.png", png_with_alpha()),
        ("anim.gif", gif()),
        ("notes.txt", b"hello"),
    )

    html = page.content.decode()
    assert "2 images uploaded" in html
    assert "anim.gif is a GIF image; we take JPEG, PNG and WebP" in html
    assert "notes.txt is not an image we can read" in html
    images = list(Image.objects.order_by("name"))
    assert [(i.name, i.status) for i in images] == [
        ("a.jpg", "succeeded"),
        ("logo.png", "succeeded"),
    ]
    rotated = images[0].thumbnail(1280)
    assert (rotated["width"], rotated["height"]) == (960, 1280)
    for image in images:
        assert image.original.endswith(f"original.{image.original[-3:]}")
        assert "a.jpg" not in image.original  # Never the uploader's name.
        for thumbnail in image.thumbnails:
            assert default_storage.exists(thumbnail["name"])
    [notice] = Notification.objects.filter(owner=user)
    assert notice.message == "2 images ready in your gallery."
    batch = UploadBatch.objects.get()
    assert batch.notified_at is not None
    # A redelivered callback, and the sweeper's check: still one notice.
    tasks.upload_batch_done(batch.pk)
    tasks.upload_batch_check(images[0].pk)
    assert Notification.objects.filter(owner=user).count() == 1


def test_the_gallery_shows_each_thumbnail_with_a_srcset(upload, client):
    upload(("a.jpg", photo(2000, 1500)))
    image = Image.objects.get()

    html = client.get(reverse("uploads:gallery")).content.decode()

    assert f'src="/images/{image.pk}/480/"' in html
    assert f"/images/{image.pk}/160/ 160w" in html and "1280w" in html


def test_a_damaged_image_ends_failed_with_a_message_and_the_batch_still_notifies(
    upload, user
):
    data = photo(1600, 1200)
    upload(("cut.jpg", data[: len(data) // 2]), ("fine.jpg", data))

    cut = Image.objects.get(name="cut.jpg")
    assert cut.status == "failed" and cut.error_message == services.DAMAGED
    assert Notification.objects.get(owner=user).message == (
        "1 image ready in your gallery. 1 could not be processed."
    )


def test_too_many_files_or_bytes_in_one_upload_are_refused(upload, settings):
    settings.UPLOAD_MAX_FILES = 2
    page = upload(*[(f"{n}.jpg", photo(40, 30)) for n in range(3)])
    assert "upload at most 2 at a time" in page.content.decode()
    settings.UPLOAD_MAX_FILES, settings.UPLOAD_MAX_REQUEST_BYTES = 20, 100
    page = upload(("a.jpg", photo(40, 30)))
    assert "upload at most 100" in page.content.decode()
    assert not Image.objects.exists()


def test_no_file_chosen_says_so(upload):
    page = upload()
    assert "Choose one or more images to upload." in page.content.decode()


def test_files_are_served_to_their_owner_only_as_images(upload, client):
    upload(("a.jpg", photo(800, 600)))
    image = Image.objects.get()
    urls = [reverse("uploads:file", args=[image.pk, v]) for v in ("original", 160)]

    for url in urls:
        response = client.get(url)
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
    assert client.get(reverse("uploads:file", args=[image.pk, 999])).status_code == 404

    client.force_login(UserFactory(is_staff=True))
    for url in [
        *urls,
        reverse("uploads:detail", args=[image.pk]),
        reverse("core:job_status", args=["uploads.image", image.pk]),
    ]:
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("uploads:delete", args=[image.pk])).status_code == 404
    assert Image.objects.exists()


def test_deleting_an_image_removes_its_files(
    upload, client, django_capture_on_commit_callbacks
):
    upload(("a.jpg", photo(800, 600)))
    image = Image.objects.get()
    folder = Path(default_storage.path(image.folder))
    assert len(list(folder.iterdir())) == 4  # The original and 3 thumbnails.

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("uploads:delete", args=[image.pk]))

    assert not Image.objects.exists() and not folder.exists()


def test_the_image_page_lists_every_size_and_offers_delete(upload, client):
    upload(("a.jpg", photo(2000, 1500)))
    image = Image.objects.get()

    html = client.get(reverse("uploads:detail", args=[image.pk])).content.decode()

    assert "JPEG, 2000 × 1500 pixels" in html
    for size, width in ((1280, 1280), (480, 480), (160, 160)):
        assert f"{size} px" in html and f"/images/{image.pk}/{size}/" in html
        assert f"{width} × " in html
    assert "Delete this image" in html


def test_the_daily_clean_removes_old_failed_images_and_orphaned_folders(
    upload, clock, django_capture_on_commit_callbacks
):
    import os
    import time
    from datetime import timedelta

    data = photo(800, 600)
    upload(("cut.jpg", data[: len(data) // 2]), ("fine.jpg", data))
    failed, kept = Image.objects.get(name="cut.jpg"), Image.objects.get(name="fine.jpg")
    orphan = Path(default_storage.path("uploads/orphan"))
    orphan.mkdir(parents=True)
    (orphan / "original.jpg").write_bytes(b"x")  # Its image row is gone.
    kept_folder = Path(default_storage.path(kept.folder))
    # A killed worker's half-written thumbnail, and one being written now.
    stale = kept_folder / ".thumb-480.jpg.0a1b.part"
    fresh = kept_folder / ".thumb-160.jpg.2c3d.part"
    stale.write_bytes(b"half")

    clock.shift(timedelta(days=8))
    two_days_ago = time.time() - 2 * 86400  # The clock's time, moved on.
    for path in (stale, kept_folder, orphan):
        os.utime(path, (two_days_ago, two_days_ago))
    fresh.write_bytes(b"half")
    os.utime(fresh, (time.time(), time.time()))
    os.utime(kept_folder, (two_days_ago, two_days_ago))
    with django_capture_on_commit_callbacks(execute=True):
        services.uploads_clean()

    assert not Image.objects.filter(pk=failed.pk).exists()
    assert Image.objects.filter(pk=kept.pk).exists()
    assert not Path(default_storage.path(failed.folder)).exists()
    assert kept_folder.exists() and (kept_folder / Path(kept.original).name).exists()
    assert not stale.exists() and fresh.exists()
    assert not orphan.exists()


def test_up_to_twenty_files_are_taken_and_an_empty_one_is_named(upload):
    page = upload(*[(f"{n}.jpg", photo(40, 30)) for n in range(15)], ("empty.jpg", b""))
    html = page.content.decode()
    assert "15 images uploaded" in html and "empty.jpg is empty." in html


def test_an_odd_variant_is_a_404_not_a_500(upload, client):
    upload(("a.jpg", photo(40, 30)))
    image = Image.objects.get()
    for variant in ("²", "0160", "١٦٠", "thumbnail"):
        url = f"/images/{image.pk}/{variant}/"
        assert client.get(url).status_code == 404, variant


def test_an_image_deleted_while_processed_leaves_nothing_behind(
    upload, user, monkeypatch
):
    from apps.uploads import thumbnails

    write = thumbnails._write

    def deleted_meanwhile(picture, size, path):
        # The owner deletes it once the worker has decoded it, before the
        # first thumbnail is written.
        # (What image_delete does, its folder removed at once rather than on
        # commit: the test's own commit would remove it again later.)
        image = Image.objects.first()
        if image:
            image.delete()
            services._remove_folder(image.folder)
        return write(picture, size, path)

    monkeypatch.setattr(thumbnails, "_write", deleted_meanwhile)
    upload(("late.jpg", photo(800, 600)))

    assert not Image.objects.exists()
    assert not any(Path(default_storage.path("uploads")).iterdir())
    # Its batch, now empty, is gone too, and nobody is told about 0 images.
    assert not UploadBatch.objects.exists()
    assert not Notification.objects.filter(owner=user).exists()
