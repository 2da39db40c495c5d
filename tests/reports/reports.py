"""Helpers for report tests: orders at chosen dates, and a PDF's text."""

import io
from datetime import datetime
from decimal import Decimal
from uuid import uuid4

from django.utils import timezone
from pypdf import PdfReader

from apps.orders.models import Order, OrderLine, Product


def order_on(
    owner,
    when: str,
    *lines: tuple[Product, int],
    status=Order.Status.PAID,
    external_id="",
    product_name: str | None = None,
) -> Order:
    """An order of `owner` placed at `when` ("2026-03-04 10:00"), with
    (product, quantity) lines at the catalogue price."""
    ordered_at = timezone.make_aware(datetime.fromisoformat(when))
    total = sum((product.price * quantity for product, quantity in lines), Decimal(0))
    order = Order.objects.create(
        owner=owner,
        status=status,
        total=total,
        checkout_token=uuid4(),
        ordered_at=ordered_at,
        paid_at=ordered_at if status == Order.Status.PAID else None,
        external_id=external_id,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            product=product,
            product_name=product_name or product.name,
            unit_price=product.price,
            quantity=quantity,
        )
        for product, quantity in lines
    )
    return order


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def pdf_pages(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)
