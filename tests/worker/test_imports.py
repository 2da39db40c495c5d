"""A CSV import through a real Redis broker and a real `celery worker`."""

import pytest

from apps.notifications.models import OutgoingEmail
from apps.orders.models import Order, OrderImport, OrderLine
from tests.processes import wait_until
from tests.worker.imports import import_started

pytestmark = [pytest.mark.worker]


def test_a_20000_row_import_completes_and_emails_its_owner(
    celery_worker, transactional_db, user
):
    order_import = import_started(user, 20_000)
    wait_until(
        lambda: OrderImport.objects.get(pk=order_import.pk).is_final,
        timeout=90,
        message=f"the import did not end:\n{celery_worker.output()}",
    )
    order_import.refresh_from_db()
    assert order_import.status == "succeeded", order_import.error_message
    assert order_import.rows_done == 20_000
    assert (order_import.orders_imported, order_import.rows_rejected) == (10_000, 0)
    assert Order.objects.filter(owner=user).count() == 10_000
    assert OrderLine.objects.filter(order__owner=user).count() == 20_000
    wait_until(
        lambda: OutgoingEmail.objects.filter(
            owner=user, template="import_done", status="succeeded"
        ).exists(),
        timeout=15,
    )
