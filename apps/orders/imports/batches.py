"""One attempt of an import, in a worker: the stored file read row by row,
the rows of each order gathered, and a batch of whole orders written at a
time with the rejected rows and the import's counts, in one transaction that
is also the job's checkpoint (where a cancel stops it, and where the next
attempt goes on from). The orders whose rows are apart in the file are known
before (split_orders), and rejected whole wherever their rows are.
"""

import logging
from decimal import Decimal

from django.conf import settings
from django.db import transaction

from apps.core import services as jobs
from apps.orders.imports import loading, rows, upload
from apps.orders.imports.rows import OrderGroup
from apps.orders.imports.split_orders import SplitOrders
from apps.orders.models import OrderImport, OrderImportRejection, Product

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


class Importer:
    """One attempt's pass over the file: groups, batches, and their writing."""

    def __init__(self, order_import: OrderImport, split_orders: SplitOrders):
        self.order_import = order_import
        self.split_orders = split_orders
        self.columns = upload.columns_of(order_import.header)
        self.width = len(order_import.header)
        self.products = {p.sku: p for p in Product.objects.all()}
        self.groups: list[OrderGroup] = []
        self.rows_in_batch = 0

    def read(self, file) -> None:
        # The rows an earlier attempt saved are skipped: rows_done counts
        # the rows after the header through its last batch.
        last_row = self.order_import.rows_done + 1
        group = None
        try:
            for number, cells in rows.read_rows(file):
                if number <= last_row:
                    continue
                last_row = number
                try:
                    line = rows.parse_row(
                        cells, self.columns, self.products, width=self.width
                    )
                    error = ""
                except rows.RowInvalid as exc:
                    line, error = None, exc.message
                key = rows.external_id_of(cells, self.columns)
                if group is None or not key or key != group.external_id:
                    if group is not None:
                        self._add(group)
                    group = OrderGroup(key)
                elif group.full:  # Too long to hold: the rest go with it.
                    self._add(group)
                    group = OrderGroup(key, continued=True)
                group.add(number, cells, line, error)
        except upload.FileRefused as exc:
            # Keep the whole orders read before the problem; the order being
            # read may go on past it, so it is not imported.
            if self.groups:
                self._write_batch(through_row=self.groups[-1].rows[-1][0])
            kept = self.order_import.rows_done + 1
            raise upload.FileRefused(
                f"{exc.message} The rows up to row {kept:,} were imported; the "
                "rest were not."
                if kept > 1
                else f"{exc.message} Nothing was imported."
            ) from exc
        if group is not None:
            self.groups.append(group)
        self._write_batch(through_row=last_row)

    def _add(self, group: OrderGroup) -> None:
        """Take a complete order; write the batch once it is big enough."""
        self.groups.append(group)
        self.rows_in_batch += len(group.rows)
        if self.rows_in_batch >= settings.IMPORT_BATCH_ROWS:
            self._write_batch(through_row=group.rows[-1][0])

    def _write_batch(self, *, through_row: int) -> None:
        order_import = self.order_import
        orders = self._orders_to_write()
        with transaction.atomic():
            new_orders = {key: self._new_order(group) for key, group in orders.items()}
            for key, new_order in list(new_orders.items()):
                if new_order.total > rows.MAX_TOTAL:
                    del new_orders[key]
                    orders.pop(key).reject(
                        f"Order {key!r} totals {new_order.total:,}, more than the "
                        f"{rows.MAX_TOTAL:,} an order can hold."
                    )
            inserted = loading.orders_write(
                owner_id=order_import.owner_id,
                import_id=order_import.pk,
                orders=list(new_orders.values()),
            )
            rejected = [
                (*rejection, group.external_id)
                for group in self.groups
                if not group.is_valid
                for rejection in group.rejections()
            ]
            OrderImportRejection.objects.bulk_create(
                [
                    OrderImportRejection(
                        order_import=order_import,
                        row_number=number,
                        reason=reason[:500],
                        values=cells,
                        external_id=external_id[: rows.EXTERNAL_ID_MAX],
                    )
                    for number, cells, reason, external_id in rejected
                ],
                batch_size=1000,
            )
            rows_done = through_row - 1
            # The batch's checkpoint: fenced (only this attempt may write),
            # and where a cancel stops the import, this batch rolled back.
            jobs.job_progress(
                order_import,
                progress=min(99, rows_done * 100 // max(order_import.total_rows, 1)),
                stage=f"Read {rows_done:,} of {order_import.total_rows:,} rows",
                rows_done=rows_done,
                orders_imported=order_import.orders_imported + len(inserted),
                orders_skipped=(
                    order_import.orders_skipped + len(new_orders) - len(inserted)
                ),
                rows_rejected=order_import.rows_rejected + len(rejected),
            )
        logger.info(
            "Import %s: %s rows read, %s orders imported",
            order_import.pk,
            rows_done,
            order_import.orders_imported,
        )
        self.groups, self.rows_in_batch = [], 0

    def _orders_to_write(self) -> dict[str, OrderGroup]:
        """{external id: group} of the batch's valid orders, after rejecting
        every row of the orders whose rows are apart in the file."""
        split = self.split_orders.among({group.external_id for group in self.groups})
        reasons = {key: self.split_orders.reason(key) for key in split}
        orders = {}
        for group in self.groups:
            if group.external_id in split:
                group.reject_every_row(reasons[group.external_id])
            elif group.is_valid:
                orders[group.external_id] = group
        return orders

    def _new_order(self, group: OrderGroup) -> loading.NewOrder:
        lines = [
            loading.NewLine(
                product_id=self.products[line.sku].pk,
                product_name=self.products[line.sku].name,
                unit_price=line.unit_price or self.products[line.sku].price,
                quantity=line.quantity,
            )
            for _, line in group.lines
        ]
        _, first = group.lines[0]
        return loading.NewOrder(
            external_id=group.external_id,
            ordered_at=first.ordered_at,
            status=first.status,
            total=sum(
                (ln.unit_price * ln.quantity for ln in lines), Decimal(0)
            ).quantize(CENT),
            lines=lines,
        )
