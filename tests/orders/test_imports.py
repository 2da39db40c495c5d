"""The CSV import of orders, run inline (eager): reading, checking, batching,
re-importing, cancelling, resuming, and who may see what."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from apps.core import cancel
from apps.core import services as jobs
from apps.notifications.models import Notification
from apps.orders import tasks
from apps.orders.imports import loading, services
from apps.orders.models import Order, OrderImport
from tests.brokers import use_broker
from tests.factories import UserFactory
from tests.orders.imports import HEADER, csv_bytes, generated_rows
from tests.orders.imports import upload as uploaded

pytestmark = pytest.mark.django_db


@pytest.fixture
def run_import(products, django_capture_on_commit_callbacks):
    """Upload `data` as `owner` and run the import to its end (eagerly)."""

    def run(owner, data: bytes, name="orders.csv") -> OrderImport:
        with django_capture_on_commit_callbacks(execute=True):
            order_import = services.order_import_start(
                owner=owner, file=uploaded(data, name)
            )
        order_import.refresh_from_db()
        return order_import

    return run


def rejections(order_import):
    return [
        (r.row_number, r.reason) for r in order_import.rejections.order_by("row_number")
    ]


def test_a_clean_file_imports_every_order_with_its_totals(user, run_import):
    order_import = run_import(
        user,
        csv_bytes(
            [
                ["A-1", "2024-05-01", "MUG-01", "2", "", "paid"],
                ["A-1", "2024-05-01", "TEE-01", "1", "20.00", "paid"],
                ["A-2", "2024-05-02T09:30:00+02:00", "BOOK-01", "3", "", ""],
            ]
        ),
    )
    assert order_import.status == "succeeded"
    assert (order_import.orders_imported, order_import.rows_rejected) == (2, 0)
    assert order_import.rows_done == 3
    assert order_import.stage == "2 orders imported, 0 already there, 0 rows rejected."

    a1 = Order.objects.get(owner=user, external_id="A-1")
    assert a1.total == Decimal("44.00")  # 2 × 12.00 (catalogue) + 20.00 (given).
    assert a1.status == "paid"
    assert a1.paid_at == a1.ordered_at
    assert a1.ordered_at.date().isoformat() == "2024-05-01"
    assert [(ln.product_name, ln.quantity, ln.unit_price) for ln in a1.lines.all()] == [
        ("Celery mug", 2, Decimal("12.00")),
        ("Broker T-shirt", 1, Decimal("20.00")),
    ]
    a2 = Order.objects.get(owner=user, external_id="A-2")
    assert a2.total == Decimal("117.00")
    assert a2.status == "awaiting_payment" and a2.is_payable
    assert a2.ordered_at.isoformat() == "2024-05-02T07:30:00+00:00"
    assert a2.source_import == order_import

    # The owner is notified, and emailed the summary.
    notification = Notification.objects.get(owner=user)
    assert notification.kind == "import_done"
    assert notification.message == (
        "The import of orders.csv is done: 2 orders imported, 0 already there, "
        "0 rows rejected."
    )
    assert notification.url == reverse("orders:import_detail", args=[order_import.pk])
    email = mail.outbox[-1]
    assert email.to == [user.email]
    assert email.subject == "Your import of orders.csv is done"
    assert "2 orders imported, 0 already there, 0 rows rejected." in email.body


def test_importing_the_same_file_again_creates_nothing_twice(user, run_import):
    data = csv_bytes(generated_rows(10))
    first = run_import(user, data)
    again = run_import(user, data)
    assert (first.orders_imported, first.orders_skipped) == (5, 0)
    assert (again.orders_imported, again.orders_skipped) == (0, 5)
    assert again.status == "succeeded"
    assert Order.objects.filter(owner=user).count() == 5
    page = _client_for(user).get(reverse("orders:import_detail", args=[again.pk]))
    assert "Every order in this file was already there" in page.content.decode()


def test_another_users_external_ids_do_not_touch_their_orders(user, run_import):
    other = UserFactory()
    data = csv_bytes([["X-1", "2024-05-01", "MUG-01", "1", "", "paid"]])
    run_import(other, data)
    mine = run_import(user, csv_bytes([["X-1", "2024-05-01", "CAP-01", "4", "", ""]]))
    assert mine.orders_imported == 1
    theirs = Order.objects.get(owner=other, external_id="X-1")
    assert [ln.product_name for ln in theirs.lines.all()] == ["Celery mug"]
    assert Order.objects.get(owner=user, external_id="X-1").total == Decimal("72.00")


def test_each_bad_value_is_reported_with_its_row_and_its_order_held_back(
    user, run_import, products
):
    products[0].is_active = False  # BOOK-01 is withdrawn.
    products[0].save()
    order_import = run_import(
        user,
        csv_bytes(
            [
                ["B-1", "2024-05-01", "MUG-01", "1", "", ""],  # 2: held back
                ["B-1", "2024-05-01", "NOPE", "1", "", ""],  # 3
                ["B-2", "31/05/2024", "MUG-01", "1", "", ""],  # 4
                ["B-3", "2024-05-01", "BOOK-01", "1", "", ""],  # 5
                ["B-4", "2024-05-01", "MUG-01", "0", "", ""],  # 6
                ["B-5", "2024-05-01", "MUG-01", "1001", "", ""],  # 7
                ["B-6", "2024-05-01", "MUG-01", "１", "", ""],  # 8: full-width
                ["B-7", "2024-05-01", "MUG-01", "1", "1.234", ""],  # 9
                ["B-8", "2024-05-01", "MUG-01", "1", "-5", ""],  # 10
                ["B-9", "2024-05-01", "MUG-01", "1", "", "shipped"],  # 11
                ["B-10", "2024-05-01", "MUG-01", "1", "", "paid"],  # 12
                ["B-10", "2024-05-02", "MUG-01", "1", "", "paid"],  # 13
                ["", "2024-05-01", "MUG-01", "1", "", ""],  # 14
                ["B-11", "2999-01-01", "MUG-01", "1", "", ""],  # 15
                ["OK-1", "2024-05-01", "MUG-01", "1", "NaN", ""],  # 16
                ["OK-2", "2024-05-01", "mug-01", "1", "", ""],  # 17: SKUs are exact
                ["OK-3", "2024-05-01", "STK-01", "2", "", ""],  # 18: fine
            ]
        ),
    )
    assert order_import.status == "succeeded"
    assert order_import.orders_imported == 1
    assert order_import.rows_rejected == 16
    reasons = dict(rejections(order_import))
    assert reasons[2] == (
        "Not imported with its order 'B-1': row 3 of it has a problem."
    )
    assert reasons[3] == "sku 'NOPE' is not in the catalogue."
    assert "ordered_at '31/05/2024' is not an ISO 8601 date" in reasons[4]
    assert reasons[5] == "sku 'BOOK-01' is no longer sold."
    assert "quantity '0' is not a whole number from 1 to 1000" in reasons[6]
    assert "quantity '1001'" in reasons[7]
    assert "quantity '１'" in reasons[8]
    assert "unit_price '1.234' is not a positive amount" in reasons[9]
    assert "unit_price '-5'" in reasons[10]
    assert "status 'shipped' is not paid or awaiting_payment" in reasons[11]
    assert reasons[12].startswith("Not imported with its order 'B-10': row 13")
    assert "differs from row 12 of the same order 'B-10'" in reasons[13]
    assert reasons[14] == "external_id is empty."
    assert "is in the future" in reasons[15]
    assert "unit_price 'NaN'" in reasons[16]
    assert reasons[17] == "sku 'mug-01' is not in the catalogue."
    assert list(Order.objects.values_list("external_id", flat=True)) == ["OK-3"]


def test_every_row_of_an_order_split_across_the_file_is_rejected(
    user, run_import, settings
):
    settings.IMPORT_BATCH_ROWS = 2  # C-1's parts in two batches.
    order_import = run_import(
        user,
        csv_bytes(
            [
                ["C-1", "2024-05-01", "MUG-01", "1", "", ""],
                ["C-2", "2024-05-01", "MUG-01", "1", "", ""],
                ["C-3", "2024-05-01", "MUG-01", "1", "", ""],
                ["C-1", "2024-05-01", "TEE-01", "1", "", ""],
                ["C-3", "2024-05-01", "TEE-01", "1", "", ""],  # Same batch as C-3.
            ]
        ),
    )
    assert order_import.status == "succeeded"
    assert (order_import.orders_imported, order_import.rows_rejected) == (1, 4)
    assert list(Order.objects.values_list("external_id", flat=True)) == ["C-2"]
    reasons = dict(rejections(order_import))
    c1 = (
        "The rows of order 'C-1' must be on consecutive lines; they are on rows "
        "2 and 5, so none of them was imported."
    )
    assert reasons[2] == reasons[5] == c1
    assert (
        reasons[4]
        == reasons[6]
        == c1.replace("C-1", "C-3").replace("2 and 5", "4 and 6")
    )


@pytest.mark.parametrize("batch_rows", [100, 1])
def test_an_order_split_across_the_file_imports_whole_once_its_rows_are_together(
    client, user, run_import, settings, batch_rows
):
    settings.IMPORT_BATCH_ROWS = batch_rows
    order_import = run_import(
        user,
        csv_bytes(
            [
                ["C-1", "2024-05-01", "MUG-01", "1", "", "paid"],
                ["C-2", "2024-05-01", "MUG-01", "1", "", "paid"],
                ["C-1", "2024-05-01", "TEE-01", "1", "", "paid"],
            ]
        ),
    )
    assert not Order.objects.filter(external_id="C-1").exists()
    client.force_login(user)
    response = client.get(reverse("orders:import_rejected", args=[order_import.pk]))
    header, *rejected = csv.reader(
        io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))
    )
    assert [row[0] for row in rejected] == ["2", "4"]

    # Fixed (its rows sorted together), the rejected rows import as they are.
    fixed = sorted(rejected, key=lambda row: row[2])
    again = run_import(user, csv_bytes(fixed, header))
    assert (again.orders_imported, again.rows_rejected) == (1, 0)
    order = Order.objects.get(external_id="C-1")
    assert [line.product.sku for line in order.lines.all()] == ["MUG-01", "TEE-01"]


def kill_the_worker_after(monkeypatch, *, rows_done: int):
    """Make the attempt die in the batch after `rows_done` saved rows, as a
    killed worker does (nothing catches SystemExit); the function that
    resumes it: its lease lapses, the sweeper's message reaches a new worker."""
    write = loading.orders_write

    def die(**kwargs):
        if OrderImport.objects.get().rows_done >= rows_done:
            raise SystemExit("worker killed")
        return write(**kwargs)

    def resume() -> OrderImport:
        monkeypatch.setattr(loading, "orders_write", write)
        lapsed = timezone.now() - timedelta(seconds=1)
        OrderImport.objects.update(lease_expires_at=lapsed)
        tasks.order_import_run.delay(OrderImport.objects.get().pk)
        return OrderImport.objects.get()

    monkeypatch.setattr(loading, "orders_write", die)
    return resume


def test_an_order_split_across_an_attempt_that_died_is_rejected_once_whole(
    user, run_import, monkeypatch, settings
):
    settings.IMPORT_BATCH_ROWS = 2
    resume = kill_the_worker_after(monkeypatch, rows_done=4)
    data = generated_rows(4, prefix="A") + [
        ["S-1", "2024-05-01", "MUG-01", "1", "", ""],  # Row 6, before the death.
        *generated_rows(4, prefix="B"),
        ["S-1", "2024-05-01", "TEE-01", "1", "", ""],  # Row 11, after it.
    ]
    with pytest.raises(SystemExit):
        run_import(user, csv_bytes(data))
    assert OrderImport.objects.get().rows_done == 4

    order_import = resume()
    assert order_import.status == "succeeded"
    assert not Order.objects.filter(external_id="S-1").exists()
    assert Order.objects.count() == order_import.orders_imported == 4
    assert [row for row, _ in rejections(order_import)] == [6, 11]
    assert "they are on rows 6 and 11" in rejections(order_import)[1][1]


def test_headers_match_in_any_case_and_order_with_a_bom(user, run_import):
    header = ["SKU", " Quantity ", "External_ID", "ordered_at"]
    order_import = run_import(
        user, csv_bytes([["MUG-01", "3", "H-1", "2024-05-01"]], header, bom=True)
    )
    assert order_import.orders_imported == 1
    assert Order.objects.get(external_id="H-1").total == Decimal("36.00")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "The submitted file is empty."),
        (b"\n \n", "The file is empty."),
        ("external_id,ordered_at\n".encode("utf-16"), "The file is UTF-16 text"),
        (b"PK\x03\x04rest of a zip", "a spreadsheet (.xlsx) or a zip archive"),
        (b"external_id,ordered_at,sku,quantity\n\x00\x01\x02", "NUL byte at byte 36"),
        (
            "external_id,ordered_at,sku,quantity\nA,2024-05-01,Café,1\n".encode(
                "latin-1"
            ),
            "byte 0xE9 on line 2 is not valid UTF-8",
        ),
        (
            b"id,ordered_at,sku,qty,colour\nA,2024-05-01,MUG-01,1,red\n",
            "The header row does not match: missing external_id, quantity; "
            "unknown id, qty, colour.",
        ),
        (b"external_id,ordered_at,sku,quantity\n", "a header but no rows"),
    ],
)
def test_a_file_that_cannot_be_imported_is_refused_at_upload_saying_why(
    client, user, products, data, message
):
    client.force_login(user)
    response = client.post(
        reverse("orders:imports"), {"file": uploaded(data)}, format="multipart"
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not OrderImport.objects.exists()


def test_too_many_rows_or_bytes_are_refused_at_upload(client, user, settings):
    client.force_login(user)
    settings.IMPORT_MAX_ROWS = 3
    response = client.post(
        reverse("orders:imports"), {"file": uploaded(csv_bytes(generated_rows(4)))}
    )
    assert "about 4 rows; we import at most 3" in response.content.decode()
    settings.IMPORT_MAX_BYTES = 100
    response = client.post(
        reverse("orders:imports"), {"file": uploaded(csv_bytes(generated_rows(4)))}
    )
    assert "we take files up to 100" in response.content.decode()
    assert not OrderImport.objects.exists()


def test_a_file_that_goes_bad_part_way_ends_failed_keeping_what_came_before(
    user, run_import, monkeypatch, settings
):
    settings.IMPORT_BATCH_ROWS = 2
    rows = generated_rows(4) + [["Z-1", "2024-05-01", "MUG-01", "1", "x" * 20_000, ""]]
    order_import = run_import(user, csv_bytes(rows))
    assert order_import.status == "failed"
    assert order_import.error_message == (
        "Reading stopped at row 6: a cell is longer than 10,000 characters (a "
        "quote left open?). The rows up to row 3 were imported; the rest were not."
    )
    # G-1 (rows 4-5) might have gone on in row 6, so it waits with it.
    assert order_import.orders_imported == 1
    assert list(Order.objects.values_list("external_id", flat=True)) == ["G-0"]
    assert mail.outbox[-1].subject == "Your import of orders.csv stopped"


def test_cancel_stops_at_the_next_batch_and_keeps_what_was_saved(
    user, run_import, monkeypatch, settings
):
    settings.IMPORT_BATCH_ROWS = 2
    write = loading.orders_write
    calls = []

    def write_then_cancel(**kwargs):
        calls.append(1)
        if len(calls) == 2:  # While the second batch is being written.
            running = OrderImport.objects.get()
            assert cancel.job_cancel(running)
        return write(**kwargs)

    monkeypatch.setattr(loading, "orders_write", write_then_cancel)
    order_import = run_import(user, csv_bytes(generated_rows(12)))
    assert order_import.status == "cancelled"
    assert order_import.orders_imported == 1  # The first batch; the second rolled back.
    assert order_import.rows_done == 2
    assert Order.objects.count() == 1
    assert len(calls) == 2
    page = _client_for(user).get(
        reverse("orders:import_detail", args=[order_import.pk])
    )
    assert "Cancelled after row 3. The 1 order imported before that is kept" in (
        page.content.decode()
    )


def test_cancel_stops_the_first_pass_too(user, run_import, monkeypatch):
    # A million rows take the first pass some seconds: a cancel is heard
    # there as well, before anything is written.
    from apps.orders.imports import split_orders

    monkeypatch.setattr(split_orders, "CHECKPOINT_ROWS", 5)
    checkpoint = jobs.job_progress

    def cancel_at_row_10(job, **kwargs):
        if "10 rows read" in kwargs.get("stage", ""):
            assert cancel.job_cancel(OrderImport.objects.get())
        return checkpoint(job, **kwargs)

    monkeypatch.setattr(jobs, "job_progress", cancel_at_row_10)
    order_import = run_import(user, csv_bytes(generated_rows(30)))
    assert order_import.status == "cancelled"
    assert (order_import.rows_done, Order.objects.count()) == (0, 0)


def test_an_attempt_that_dies_is_resumed_after_its_last_saved_batch(
    user, run_import, monkeypatch, settings
):
    settings.IMPORT_BATCH_ROWS = 4
    resume = kill_the_worker_after(monkeypatch, rows_done=8)
    with pytest.raises(SystemExit):
        run_import(user, csv_bytes(generated_rows(20)))
    order_import = OrderImport.objects.get()
    assert (order_import.status, order_import.rows_done) == ("running", 8)
    assert Order.objects.count() == 4

    order_import = resume()
    assert order_import.status == "succeeded"
    assert (order_import.orders_imported, order_import.orders_skipped) == (10, 0)
    assert Order.objects.count() == 10
    assert order_import.attempts == 2


def test_the_rejected_rows_csv_is_safe_in_a_spreadsheet_and_imports_again(
    client, user, run_import
):
    order_import = run_import(
        user,
        csv_bytes(
            [
                ['=HYPERLINK("http://x")', "2024-05-01", "MUG-01", "0", "", ""],
                ["+1", "2024-05-01", "@SUM(A1)", "1", "", ""],
                ["-2", "\tx", "MUG-01", "1", "", ""],
                ["D-1", "2024-05-01", "MUG-01", "1", "", ""],
            ]
        ),
    )
    client.force_login(user)
    response = client.get(reverse("orders:import_rejected", args=[order_import.pk]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment;" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == ["rejected_row", "rejected_reason", *HEADER]
    assert [row[0] for row in rows[1:]] == ["2", "3", "4"]
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://x")' in cells
    assert "'+1" in cells and "'@SUM(A1)" in cells and "'-2" in cells
    assert "'\tx" in cells
    assert not any(c.startswith(("=", "+", "-", "@", "\t", "\r")) for c in cells)

    # Fixed, it uploads as it is: the two extra columns are ignored.
    fixed = [
        ["2", "fixed", "E-1", "2024-05-01", "MUG-01", "1", "", ""],
    ]
    again = run_import(
        user, csv_bytes(fixed, ["rejected_row", "rejected_reason", *HEADER])
    )
    assert again.orders_imported == 1


def test_the_rejected_rows_csv_fixed_imports_the_values_it_was_given(
    client, user, run_import
):
    ids = ["-H1", "=H2", "+H3", "@H4", "'=H5"]
    original = [[key, "2024-05-01", "MUG-01", "1", "", ""] for key in ids]
    bad = [[key, day, sku, "0", *rest] for key, day, sku, _, *rest in original]
    order_import = run_import(user, csv_bytes(bad))
    client.force_login(user)
    response = client.get(reverse("orders:import_rejected", args=[order_import.pk]))
    header, *rejected = csv.reader(
        io.StringIO(b"".join(response.streaming_content).decode().lstrip("\ufeff"))
    )
    assert [row[2] for row in rejected] == ["'-H1", "'=H2", "'+H3", "'@H4", "'=H5"]

    fixed = [[*row[:5], "1", *row[6:]] for row in rejected]
    again = run_import(user, csv_bytes(fixed, header))
    assert (again.orders_imported, again.rows_rejected) == (5, 0)
    # In any file, as in a spreadsheet, "'=H5" is "=H5".
    assert sorted(Order.objects.values_list("external_id", flat=True)) == sorted(
        ["-H1", "=H2", "+H3", "@H4", "=H5"]
    )
    once_more = run_import(user, csv_bytes(original))
    assert (once_more.orders_imported, once_more.orders_skipped) == (0, 5)
    assert Order.objects.count() == 5


def test_a_quote_is_taken_off_only_before_a_formula_start():
    from apps.orders.imports import rows

    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert rows.unneutralised(f"'{start}1") == f"{start}1"
        assert rows.unneutralised(f"''{start}1") == f"''{start}1"
    assert rows.unneutralised("'quoted'") == "'quoted'"
    assert rows.unneutralised("'") == "'"


def test_another_user_gets_404_for_every_page_of_an_import(client, user, run_import):
    order_import = run_import(
        user, csv_bytes([["=bad", "2024-05-01", "MUG-01", "0", "", ""]])
    )
    client.force_login(UserFactory())
    label = "orders.orderimport"
    for url in (
        reverse("orders:import_detail", args=[order_import.pk]),
        reverse("orders:import_rejected", args=[order_import.pk]),
        reverse("core:job_status", args=[label, order_import.pk]),
        reverse("orders:list") + f"?import={order_import.pk}",
    ):
        assert client.get(url).status_code == 404, url
    for url in (
        reverse("orders:import_delete", args=[order_import.pk]),
        reverse("core:job_cancel", args=[label, order_import.pk]),
    ):
        assert client.post(url).status_code == 404, url
    assert OrderImport.objects.filter(pk=order_import.pk).exists()


def test_deleting_an_import_deletes_its_file_and_keeps_its_orders(
    client, user, run_import, django_capture_on_commit_callbacks
):
    order_import = run_import(user, csv_bytes(generated_rows(4)))
    stored = order_import.stored_file
    assert default_storage.exists(stored)
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        with_callbacks = client.post(
            reverse("orders:import_delete", args=[order_import.pk]), follow=True
        )
    assert not default_storage.exists(stored)
    assert "its file are deleted; the orders it imported stay" in (
        with_callbacks.content.decode()
    )
    assert not OrderImport.objects.exists()
    assert Order.objects.filter(owner=user).count() == 2
    assert Order.objects.filter(source_import__isnull=True).count() == 2


def test_a_running_import_cannot_be_deleted(user):
    order_import = OrderImport.objects.create(
        owner=user, file_name="x.csv", file_size=1, status="running"
    )
    with pytest.raises(services.ImportNotDeletable):
        services.order_import_delete(order_import=order_import)


def test_old_import_files_are_deleted_and_the_imports_stay(user, run_import):
    old = run_import(user, csv_bytes(generated_rows(2)))
    recent = run_import(user, csv_bytes(generated_rows(2, prefix="R")))
    OrderImport.objects.filter(pk=old.pk).update(
        finished_at=timezone.now() - timedelta(days=8)
    )
    assert tasks.order_imports_clean() == "Deleted 1 import file."
    assert tasks.order_imports_clean() == "Deleted 0 import files."
    old.refresh_from_db()
    recent.refresh_from_db()
    assert old.stored_file == "" and recent.stored_file
    assert not default_storage.exists(
        OrderImport.objects.get(pk=old.pk).stored_file or "imports/none"
    )
    assert default_storage.exists(recent.stored_file)


def test_the_import_page_documents_the_format_and_the_sample_imports(
    client, user, run_import
):
    client.force_login(user)
    page = client.get(reverse("orders:imports")).content.decode()
    for column in HEADER:
        assert f"<code>{column}</code>" in page
    assert reverse("orders:import_sample") in page
    sample = client.get(reverse("orders:import_sample"))
    assert sample["Content-Disposition"] == 'attachment; filename="orders-sample.csv"'
    order_import = run_import(user, sample.content)
    assert order_import.orders_imported == 2
    assert order_import.rows_rejected == 0


def test_the_orders_list_is_paged_and_filters_by_import(client, user, run_import):
    order_import = run_import(user, csv_bytes(generated_rows(120)))
    client.force_login(user)
    page = client.get(reverse("orders:list")).content.decode()
    assert "Page 1 of 2" in page
    page = client.get(
        reverse("orders:list") + f"?import={order_import.pk}&page=2"
    ).content.decode()
    assert f"Orders from import #{order_import.pk}" in page
    assert "Page 2 of 2" in page


def _client_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_an_order_whose_rows_are_apart_is_never_imported_in_part(
    user, run_import, settings
):
    for batch_rows in (100, 1):  # In one batch, and across batches.
        Order.objects.all().delete()
        settings.IMPORT_BATCH_ROWS = batch_rows
        order_import = run_import(
            user,
            csv_bytes(
                [
                    ["H-1", "2024-05-01", "MUG-01", "0", "", ""],  # 2: bad
                    ["H-2", "2024-05-01", "MUG-01", "1", "", ""],  # 3
                    ["H-1", "2024-05-01", "TEE-01", "1", "", ""],  # 4: valid
                ]
            ),
        )
        assert list(Order.objects.values_list("external_id", flat=True)) == ["H-2"]
        reasons = dict(rejections(order_import))
        assert set(reasons) == {2, 4}
        apart = (
            "The rows of order 'H-1' must be on consecutive lines; they are on "
            "rows 2 and 4, so none of them was imported."
        )
        assert (
            reasons[2] == "quantity '0' is not a whole number from 1 to 1000. " + apart
        )
        assert reasons[4] == apart


def test_bad_cells_counts_dates_and_totals_are_rejected_not_crashed_on(
    user, run_import
):
    order_import = run_import(
        user,
        csv_bytes(
            [
                ["P-1", "2024-05-01", "MUG-01", "1", "12", "50", ""],  # 12,50
                ["P-2", "2024-05-01", "MUG-01", "1"],  # Too few cells.
                ["P-3", "0001-01-01T00:30:00+01:00", "MUG-01", "1", "", ""],
                ["P-4", "1899-12-31", "MUG-01", "1", "", ""],
                ["P-5", "2024-05-01", "MUG-01", "1", "1e3", ""],
                ["P-6", "2024-05-01", "MUG-01", "1", "1_000", ""],
                ["P-7", "2024-05-01", "MUG-01", "1000", "99999999.99", ""],
                ["P-8", "2024-05-01", "MUG-01", "1", "12.50", ""],  # Fine.
            ]
        ),
    )
    assert order_import.status == "succeeded"
    assert list(Order.objects.values_list("external_id", flat=True)) == ["P-8"]
    reasons = dict(rejections(order_import))
    assert "it has 7 cells where the header has 6" in reasons[2]
    assert "it has 4 cells where the header has 6" in reasons[3]
    assert "is not an ISO 8601 date" in reasons[4]
    assert "is before 1900" in reasons[5]
    assert "unit_price '1e3' is not a positive amount" in reasons[6]
    assert "unit_price '1_000'" in reasons[7]
    assert "totals 99,999,999,990.00, more than the 9,999,999,999.99" in reasons[8]


def test_an_order_too_long_to_hold_is_rejected_whole(
    user, run_import, settings, monkeypatch
):
    from apps.orders.imports import rows

    monkeypatch.setattr(rows, "MAX_LINES", 3)
    settings.IMPORT_BATCH_ROWS = 2
    data = [["L-1", "2024-05-01", "MUG-01", "1", "", ""]] * 7
    data += [["L-2", "2024-05-01", "MUG-01", "1", "", ""]]
    order_import = run_import(user, csv_bytes(data))
    assert list(Order.objects.values_list("external_id", flat=True)) == ["L-2"]
    assert order_import.rows_rejected == 7
    assert "Order 'L-1' has more than 3 lines" in dict(rejections(order_import))[5]


def test_a_file_with_old_mac_line_endings_imports(user, run_import):
    data = csv_bytes(generated_rows(4)).replace(b"\n", b"\r")
    order_import = run_import(user, data)
    assert order_import.total_rows == 4
    assert order_import.orders_imported == 2


def test_a_header_with_a_quote_left_open_is_refused_not_a_500(client, user):
    client.force_login(user)
    response = client.post(
        reverse("orders:imports"),
        {"file": uploaded(b'external_id,"ordered_at,sku,quantity\nA,1,2,3\n')},
    )
    assert response.status_code == 400
    assert "The header row does not match" in response.content.decode()
    huge = b"external_id,ordered_at,sku,quantity," + b"x" * 200_000 + b"\nA,1,2,3\n"
    response = client.post(reverse("orders:imports"), {"file": uploaded(huge)})
    assert response.status_code == 400
    assert "The header row is not valid CSV" in response.content.decode()


def test_an_import_id_in_other_digits_is_a_404_not_a_500(client, user):
    client.force_login(user)
    assert client.get(reverse("orders:list") + "?import=²").status_code == 200


def test_a_stored_file_gone_ends_the_import_saying_so(user, products):
    with use_broker("memory://"):
        order_import = services.order_import_start(
            owner=user, file=uploaded(csv_bytes(generated_rows(2)))
        )
    default_storage.delete(order_import.stored_file)
    tasks.order_import_run.delay(order_import.pk)
    order_import.refresh_from_db()
    assert order_import.status == "failed"
    assert order_import.error_message == (
        "The stored file is gone, so the import cannot go on."
    )


def test_the_clean_up_leaves_the_files_of_imports_not_ended(user, products, clock):
    with use_broker("memory://"):
        running = services.order_import_start(
            owner=user, file=uploaded(csv_bytes(generated_rows(2)))
        )
    OrderImport.objects.filter(pk=running.pk).update(
        status="running", finished_at=timezone.now() - timedelta(days=30)
    )
    assert tasks.order_imports_clean() == "Deleted 0 import files."
    assert default_storage.exists(running.stored_file)


def test_every_formula_start_is_neutralised():
    from apps.orders.imports import export

    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert export.neutralise(f"{start}1") == f"'{start}1"
    assert export.neutralise("plain") == "plain"


def test_the_import_page_says_it_goes_on_without_you_only_while_it_runs(
    client, user, run_import
):
    client.force_login(user)
    leave = "You can leave this page: the import goes on"
    with use_broker("memory://"):
        waiting = services.order_import_start(
            owner=user, file=uploaded(csv_bytes(generated_rows(2)))
        )
    page = client.get(reverse("orders:import_detail", args=[waiting.pk]))
    assert leave in page.content.decode()
    done = run_import(user, csv_bytes(generated_rows(2, prefix="D")))
    assert done.status == "succeeded"
    page = client.get(reverse("orders:import_detail", args=[done.pk]))
    assert leave not in page.content.decode()
