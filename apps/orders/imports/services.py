"""The CSV import of orders: started by the web, run by a worker in batches.

Follow one import: `order_import_start` (web) checks and stores the file and
enqueues the job; `order_import_run` (worker, through the job task base)
reads the stored file once to find the orders whose rows are apart
(split_orders), then has a batches.Importer stream it again, gather each
order's rows, and write a batch of whole orders at a time, with its counts
and its rejected rows, in one transaction; then it tells the owner. An
attempt that dies resumes after the last batch it saved; an order already
there (same external id) is skipped by the database.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core import services as jobs
from apps.notifications import services as notifications
from apps.orders.imports import batches, split_orders, upload
from apps.orders.models import OrderImport

logger = logging.getLogger(__name__)


class ImportNotDeletable(Exception):
    """The import is still running: cancel it first."""


@transaction.atomic
def order_import_start(*, owner, file) -> OrderImport:
    """Check the uploaded file, store it under an unguessable name, and have
    a worker import it. Raises upload.FileRefused saying why not."""
    summary = upload.check_upload(file)
    stored = default_storage.save(
        f"imports/{secrets.token_urlsafe(24)}.csv", file, max_length=200
    )
    order_import = OrderImport.objects.create(
        owner=owner,
        file_name=(file.name or "orders.csv")[:255],
        file_size=file.size,
        stored_file=stored,
        header=summary.header,
        total_rows=summary.total_rows,
    )
    jobs.job_enqueue(order_import)
    return order_import


def order_import_run(*, order_import: OrderImport) -> None:
    """Import the stored file, resuming after the last saved batch; run by
    the worker once per attempt."""
    try:
        with default_storage.open(order_import.stored_file, "rb") as file:
            checking = "Checking that the rows of each order are together"

            def checkpoint(rows_read: int) -> None:
                read = f": {rows_read:,} rows read" if rows_read else ""
                jobs.job_progress(
                    order_import, progress=order_import.progress, stage=checking + read
                )

            checkpoint(0)
            columns = upload.columns_of(order_import.header)
            with split_orders.SplitOrders(file, columns, checkpoint) as split:
                file.seek(0)
                batches.Importer(order_import, split).read(file)
    except (upload.FileRefused, FileNotFoundError) as exc:
        message = (
            exc.message
            if isinstance(exc, upload.FileRefused)
            else "The stored file is gone, so the import cannot go on."
        )
        _end(order_import, failed=message)
        return
    _end(order_import)


def _end(order_import: OrderImport, *, failed: str = "") -> None:
    """End the import, succeeded or failed, and tell its owner (a
    notification, and an email with the summary unless they chose not to);
    one transaction, so they go exactly when the import ends."""
    order_import.refresh_from_db()
    summary = import_summary(order_import)
    with transaction.atomic():
        notifications.notify(
            owner=order_import.owner,
            kind="import_failed" if failed else "import_done",
            message=(
                f"The import of {order_import.file_name} stopped: {failed}"
                if failed
                else f"The import of {order_import.file_name} is done: {summary}"
            ),
            url=reverse("orders:import_detail", args=[order_import.pk]),
            idempotency_key=f"import_done:{order_import.pk}",
            email=(
                "import_done",
                {"order_import": order_import, "failed": failed, "summary": summary},
            ),
        )
        if failed:
            jobs.job_fail(order_import, message=failed)
        else:
            jobs.job_succeed(order_import, stage=summary)


def order_import_give_up(order_import: OrderImport, *, message: str, detail=""):
    """The job's give-up hook: out of attempts, out of time, or a bug."""
    _end(order_import, failed=message)


def import_summary(order_import: OrderImport) -> str:
    """'1,204 orders imported, 3 already there, 5 rows rejected.'"""
    return (
        f"{order_import.orders_imported:,} "
        f"{'order' if order_import.orders_imported == 1 else 'orders'} imported, "
        f"{order_import.orders_skipped:,} already there, "
        f"{order_import.rows_rejected:,} "
        f"{'row' if order_import.rows_rejected == 1 else 'rows'} rejected."
    )


@transaction.atomic
def order_import_delete(*, order_import: OrderImport) -> None:
    """Delete the import, its stored file and its rejected rows; its orders stay."""
    if not order_import.is_final:
        raise ImportNotDeletable
    stored = order_import.stored_file
    order_import.delete()
    if stored:
        transaction.on_commit(lambda: default_storage.delete(stored))


def order_imports_clean() -> int:
    """Delete the stored files of imports that ended more than
    IMPORT_FILE_RETENTION_DAYS ago; the imports and their orders stay."""
    cutoff = timezone.now() - timedelta(days=settings.IMPORT_FILE_RETENTION_DAYS)
    done = 0
    old = OrderImport.objects.filter(
        status__in=OrderImport.FINAL_STATUSES, finished_at__lt=cutoff
    ).exclude(stored_file="")
    for order_import in old.iterator():
        default_storage.delete(order_import.stored_file)
        OrderImport.objects.filter(pk=order_import.pk).update(stored_file="")
        done += 1
    return done
