"""Importing orders from CSV in a real browser, with a real worker behind it."""

import csv

import pytest
from playwright.sync_api import Page, expect

from apps.orders import services
from apps.orders.models import Order, OrderImport
from tests.e2e.steps import WORKER_TIMEOUT, log_in, nav
from tests.orders.imports import csv_bytes, generated_rows

pytestmark = [pytest.mark.e2e]


@pytest.fixture
def worker_env(live_server):
    # Small batches: many checkpoints, so progress (and a cancel) shows soon.
    return {"SITE_URL": live_server.url, "IMPORT_BATCH_ROWS": "100"}


@pytest.fixture
def shopper(page: Page, user, password):
    services.products_seed_demo()
    page.goto("/")
    log_in(page, user.email, password)
    return user


def choose_file(page: Page, name: str, data: bytes) -> None:
    page.get_by_label("CSV file").set_input_files(
        {"name": name, "mimeType": "text/csv", "buffer": data}
    )


BAD_ROWS = [
    ["BAD-1", "2024-05-01", "NOPE-1", "1", "", ""],
    ["BAD-2", "yesterday", "MUG-01", "1", "", ""],
    ["=BAD-3", "2024-05-01", "MUG-01", "0", "", ""],
]


def test_upload_watch_the_progress_live_then_download_the_rejected_rows(
    page: Page, shopper, screenshot
):
    nav(page).get_by_role("link", name="Orders").click()
    page.get_by_role("link", name="Import orders", exact=True).click()
    expect(
        page.get_by_role("heading", name="Import orders from a CSV file")
    ).to_be_visible()
    expect(page.locator("pre.csv-example")).to_contain_text(
        "external_id,ordered_at,sku"
    )
    screenshot("import-page")

    choose_file(page, "orders.csv", csv_bytes(generated_rows(20_000) + BAD_ROWS))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Import #")).to_be_visible()
    page.evaluate("window.loadedOnce = true")

    status = page.locator(".job-status")
    # Part-way: running, the bar neither empty nor full, counts growing.
    page.wait_for_function(
        """() => {
          const box = document.querySelector('.job-status');
          const bar = document.querySelector('.job-status [role=progressbar]');
          return box && box.dataset.status === 'running' && bar
            && +bar.getAttribute('aria-valuenow') > 0
            && +bar.getAttribute('aria-valuenow') < 100;
        }""",
        timeout=WORKER_TIMEOUT,
    )
    expect(status).to_contain_text("rows/s")
    screenshot("import-running")

    expect(status).to_have_attribute("data-status", "succeeded", timeout=60_000)
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    counts = status.locator(".import-counts")
    expect(counts.locator(".count-imported")).to_have_text("10,000")
    expect(counts.locator(".count-rejected")).to_have_text("3")
    screenshot("import-done")

    with page.expect_download() as download:
        status.get_by_role("link", name="Download the 3 rejected rows (CSV)").click()
    with open(download.value.path(), encoding="utf-8-sig", newline="") as file:
        rows = list(csv.reader(file))
    assert [row[0] for row in rows[1:]] == ["20002", "20003", "20004"]
    assert "sku 'NOPE-1' is not in the catalogue." in rows[1][1]
    assert rows[3][2] == "'=BAD-3"  # Neutralised for spreadsheets.

    status.get_by_role("link", name="Open the 10,000 imported orders").click()
    expect(page.get_by_role("heading", name="Orders from import #")).to_be_visible()
    expect(page.get_by_text("Page 1 of 200")).to_be_visible()
    # The next page shows the notification it left.
    nav(page).get_by_role("link", name="Notifications").click()
    expect(nav(page).get_by_label("1 unread")).to_be_visible()
    expect(
        page.get_by_role("link", name="The import of orders.csv is done")
    ).to_be_visible()

    # Narrow, the page keeps every column label and does not scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/orders/imports/")
    first = page.locator("table").last.locator("tbody tr").first
    labels = first.locator("td").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c, '::before').content)"
    )
    assert labels == [
        '"Import"',
        '"File"',
        '"Started"',
        '"State"',
        '"Orders imported"',
        '"Rows rejected"',
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("import-page-390")


def test_a_file_dropped_on_the_form_is_uploaded(page: Page, shopper):
    page.goto("/orders/imports/")
    data = csv_bytes(generated_rows(4, prefix="DROP")).decode()
    zone = page.locator("[data-dropzone]")
    transfer = page.evaluate_handle(
        """(text) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([text], 'dropped.csv', {type: 'text/csv'}));
          return transfer;
        }""",
        data,
    )
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    expect(zone).to_have_class("dropzone dropzone-over")
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    assert page.get_by_label("CSV file").evaluate("input => input.files[0].name") == (
        "dropped.csv"
    )
    page.get_by_role("button", name="Import").click()
    status = page.locator(".job-status")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=WORKER_TIMEOUT)
    expect(page.get_by_text("dropped.csv")).to_be_visible()
    assert Order.objects.filter(external_id__startswith="DROP").count() == 2


def test_cancel_a_large_import_part_way(page: Page, shopper, screenshot):
    page.goto("/orders/imports/")
    choose_file(page, "big.csv", csv_bytes(generated_rows(200_000, prefix="BIG")))
    page.get_by_role("button", name="Import").click()
    status = page.locator(".job-status")
    expect(status).to_have_attribute("data-status", "running", timeout=WORKER_TIMEOUT)
    status.get_by_role("button", name="Cancel").click()
    expect(status).to_have_attribute("data-status", "cancelled", timeout=WORKER_TIMEOUT)
    expect(status).to_contain_text("Cancelled after row")
    expect(status).to_contain_text("imported before that are kept")
    screenshot("import-cancelled")
    order_import = OrderImport.objects.get()
    assert 0 < order_import.rows_done < 200_000
    assert Order.objects.filter(owner=shopper).count() == order_import.orders_imported
