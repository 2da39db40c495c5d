from django.db.models import Prefetch, QuerySet

from apps.orders.models import Invoice, Order, OrderImport, Payment, Product


def products_for_sale() -> QuerySet[Product]:
    return Product.objects.filter(is_active=True)


def orders_of(user) -> QuerySet[Order]:
    """The user's orders, each with its payments newest first (for list and detail)."""
    return Order.objects.filter(owner=user).prefetch_related(
        "lines", Prefetch("payments", queryset=Payment.objects.order_by("-id"))
    )


def order_latest_payment(order: Order) -> Payment | None:
    payments = list(order.payments.all())  # Prefetched newest first.
    return payments[0] if payments else None


def order_imports_of(user) -> QuerySet[OrderImport]:
    return OrderImport.objects.filter(owner=user)


def order_invoice(order: Order) -> Invoice | None:
    return Invoice.objects.filter(order=order).first()
