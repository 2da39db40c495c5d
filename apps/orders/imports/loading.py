"""Writing a batch of imported orders, each with its lines, in one go.

On PostgreSQL the batch is copied (COPY) into two temporary staging tables
and moved into place by one INSERT ... SELECT ... ON CONFLICT DO NOTHING,
whose RETURNING feeds the lines' INSERT in the same statement: the fastest
way PostgreSQL loads rows, and an order already there is skipped by the
database itself. Elsewhere (SQLite) the batch goes in with bulk_create. The
caller runs either inside its transaction.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import uuid4

from django.db import connection
from django.utils import timezone

from apps.orders.models import Order, OrderLine


@dataclass(frozen=True)
class NewLine:
    product_id: int
    product_name: str
    unit_price: Decimal
    quantity: int


@dataclass(frozen=True)
class NewOrder:
    external_id: str
    ordered_at: datetime
    status: str
    total: Decimal
    lines: list[NewLine]


def orders_write(*, owner_id: int, import_id: int, orders: list[NewOrder]) -> set[str]:
    """Insert the orders the owner does not have yet (by external id) with
    their lines; return the external ids inserted. The ids must be distinct."""
    if not orders:
        return set()
    if connection.vendor == "postgresql":
        return _copy_write(owner_id, import_id, orders)
    return _bulk_write(owner_id, import_id, orders)


def _bulk_write(owner_id: int, import_id: int, orders: list[NewOrder]) -> set[str]:
    there = set(
        Order.objects.filter(
            owner_id=owner_id, external_id__in=[o.external_id for o in orders]
        ).values_list("external_id", flat=True)
    )
    new = [o for o in orders if o.external_id not in there]
    now = timezone.now()
    created = Order.objects.bulk_create(
        [
            Order(
                owner_id=owner_id,
                external_id=o.external_id,
                ordered_at=o.ordered_at,
                status=o.status,
                total=o.total,
                paid_at=o.ordered_at if o.status == Order.Status.PAID else None,
                checkout_token=uuid4(),
                source_import_id=import_id,
                created_at=now,
            )
            for o in new
        ],
        batch_size=500,
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(order_id=order.pk, **vars(line))
            for order, o in zip(created, new, strict=True)
            for line in o.lines
        ],
        batch_size=1000,
    )
    return {o.external_id for o in new}


def _copy_write(owner_id: int, import_id: int, orders: list[NewOrder]) -> set[str]:
    quote = connection.ops.quote_name
    order_table, line_table = (
        quote(Order._meta.db_table),
        quote(OrderLine._meta.db_table),
    )
    with connection.cursor() as cursor:
        # Per connection, emptied at each commit: nothing to clean up.
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_stage_orders ("
            " external_id varchar(64), ordered_at timestamptz,"
            " status varchar(20), total numeric(12, 2), checkout_token uuid"
            ") ON COMMIT DELETE ROWS"
        )
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS import_stage_lines ("
            " external_id varchar(64), product_id bigint,"
            " product_name varchar(200), unit_price numeric(10, 2),"
            " quantity integer, position integer"
            ") ON COMMIT DELETE ROWS"
        )
        # Empty even when an earlier batch of this transaction used them.
        cursor.execute("TRUNCATE import_stage_orders, import_stage_lines")
        with cursor.copy(
            "COPY import_stage_orders (external_id, ordered_at, status, total,"
            " checkout_token) FROM STDIN"
        ) as copy:
            for o in orders:
                copy.write_row(
                    (o.external_id, o.ordered_at, o.status, o.total, uuid4())
                )
        with cursor.copy(
            "COPY import_stage_lines (external_id, product_id, product_name,"
            " unit_price, quantity, position) FROM STDIN"
        ) as copy:
            position = 0
            for o in orders:
                for line in o.lines:
                    position += 1
                    copy.write_row(
                        (
                            o.external_id,
                            line.product_id,
                            line.product_name,
                            line.unit_price,
                            line.quantity,
                            position,
                        )
                    )
        # The table names come from the models; every value is a parameter.
        cursor.execute(
            f"""
            WITH new AS (
                INSERT INTO {order_table} (
                    owner_id, external_id, ordered_at, status, total,
                    checkout_token, created_at, paid_at, source_import_id
                )
                SELECT %s, external_id, ordered_at, status, total,
                       checkout_token, now(),
                       CASE WHEN status = %s THEN ordered_at END, %s
                FROM import_stage_orders
                -- One order for every writer: two imports of overlapping
                -- files wait for each other instead of deadlocking.
                ORDER BY external_id
                ON CONFLICT DO NOTHING
                RETURNING id, external_id
            ), lines AS (
                INSERT INTO {line_table} (
                    order_id, product_id, product_name, unit_price, quantity
                )
                SELECT new.id, s.product_id, s.product_name, s.unit_price,
                       s.quantity
                FROM import_stage_lines s JOIN new USING (external_id)
                ORDER BY s.position  -- Lines keep the file's order.
            )
            SELECT external_id FROM new
            """,  # noqa: S608
            [owner_id, Order.Status.PAID, import_id],
        )
        return {external_id for (external_id,) in cursor.fetchall()}
