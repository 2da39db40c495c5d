"""Image uploads in a real browser, with a real worker: two photos uploaded
(with the progress bar's background request), placeholders first, then both
thumbnails in place, without a reload."""

import pytest
from playwright.sync_api import Page, expect

from apps.uploads.models import Image
from tests.e2e.steps import WORKER_TIMEOUT, log_in, nav
from tests.uploads.images import photo

pytestmark = [pytest.mark.e2e]


def test_upload_two_images_and_watch_both_thumbnails_appear(
    page: Page, user, password, worker_paused, screenshot, tmp_path
):
    files = []
    for number, orientation in enumerate((1, 6)):
        path = tmp_path / f"holiday-{number}.jpg"
        path.write_bytes(photo(2400, 1600, orientation=orientation))
        files.append(path)
    page.goto("/")
    log_in(page, user.email, password)
    nav(page).get_by_role("link", name="Images").click()
    expect(page.get_by_role("heading", name="Images", exact=True)).to_be_visible()

    with worker_paused():
        page.get_by_label("Images").set_input_files(files)
        page.get_by_role("button", name="Upload").click()
        expect(page.get_by_text("2 images uploaded")).to_be_visible()
        items = page.locator(".gallery-item")
        expect(items).to_have_count(2)
        expect(page.locator(".gallery-placeholder")).to_have_count(2)
        page.evaluate("window.loadedOnce = true")

    thumbs = page.locator(".gallery-thumb img")
    expect(thumbs).to_have_count(2, timeout=WORKER_TIMEOUT)
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    for image in Image.objects.filter(owner=user):
        srcset = ", ".join(
            f"/images/{image.pk}/{size}/ {image.thumbnail(size)['width']}w"
            for size in (160, 480, 1280)
        )
        img = page.locator(f'a[href="/images/{image.pk}/"] img')
        expect(img).to_have_attribute("srcset", srcset)
    # Every thumbnail really loaded (not a broken image).
    for index in range(2):
        assert thumbs.nth(index).evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot("images-gallery")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("images-gallery-390")


def test_too_many_files_are_named_before_anything_is_sent(
    page: Page, user, password, tmp_path
):
    files = []
    for number in range(21):
        path = tmp_path / f"tiny-{number}.jpg"
        path.write_bytes(photo(40, 30))
        files.append(path)
    page.goto("/")
    log_in(page, user.email, password)
    page.goto("/images/")
    sent = []
    page.on("request", lambda request: sent.append(request.method))

    page.get_by_label("Images").set_input_files(files)
    page.get_by_role("button", name="Upload").click()

    expect(page.get_by_role("alert")).to_have_text(
        "You chose 21 files; at most 20 go in one upload."
    )
    assert "POST" not in sent
    assert not Image.objects.filter(owner=user).exists()
    expect(page.get_by_role("button", name="Upload")).to_be_enabled()
