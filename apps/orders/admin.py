from django.contrib import admin, messages
from django.db.models import Q
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.timezone import localtime

from apps.core.admin import JobAttemptInline
from apps.orders import services
from apps.orders.models import (
    DeadLetterPayment,
    Invoice,
    Order,
    OrderImport,
    OrderLine,
    Payment,
    Product,
)


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "price", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name", "sku"]


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    readonly_fields = ["product", "product_name", "unit_price", "quantity"]

    def has_add_permission(self, request, obj=None):
        return False


class PaymentInline(admin.TabularInline):
    model = Payment
    extra = 0
    can_delete = False
    fields = [
        "status",
        "attempts",
        "amount",
        "card_last4",
        "error_message",
        "created_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class FlaggedFilter(admin.SimpleListFilter):
    title = "awaiting payment too long"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(flagged_stale_at__isnull=False)
        return queryset


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "owner",
        "status",
        "total",
        "created_at",
        "flagged_stale_at",
    ]
    list_filter = ["status", FlaggedFilter]
    search_fields = ["owner__email"]
    list_select_related = ["owner"]
    inlines = [OrderLineInline, PaymentInline]
    # States change only through apps.orders.services.
    readonly_fields = [
        "owner",
        "status",
        "total",
        "checkout_token",
        "created_at",
        "paid_at",
        "flagged_stale_at",
    ]


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    inlines = [JobAttemptInline]
    list_display = [
        "__str__",
        "owner",
        "status",
        "attempts",
        "amount",
        "failure_code",
        "created_at",
    ]
    list_filter = ["status", "failure_code"]
    search_fields = ["owner__email", "idempotency_key", "charge_id"]
    list_select_related = ["owner", "order"]
    readonly_fields = [field.name for field in Payment._meta.fields]

    def has_add_permission(self, request):
        return False


class DeadLetterStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Open"), ("resolved", "Resolved")]

    def queryset(self, request, queryset):
        if self.value() == "open":
            return queryset.filter(OPEN_DEAD_LETTER)
        if self.value() == "resolved":
            return queryset.exclude(OPEN_DEAD_LETTER)
        return queryset


# Still failed, and its order still unpaid: someone should look at it.
OPEN_DEAD_LETTER = Q(status=Payment.Status.FAILED) & ~Q(order__status=Order.Status.PAID)


@admin.register(DeadLetterPayment)
class DeadLetterPaymentAdmin(PaymentAdmin):
    """Payments whose retries all failed: open until retried or the order is
    paid some other way, and kept afterwards as resolved."""

    # Narrow enough for a 1280 px screen with the admin's sidebar open: long
    # addresses and messages are cut short, whole in their tooltip and on the
    # entry's own page (which also has the attempts: every entry ran them all).
    list_display = ["__str__", "owner_email", "amount", "state", "dead_lettered"]
    list_filter = [DeadLetterStateFilter, "failure_code"]
    actions = ["retry_payments"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(dead_lettered_at__isnull=False)
            .select_related("order")
        )

    @admin.display(description="owner", ordering="owner__email")
    def owner_email(self, payment):
        return shortened(payment.owner.email, 20)

    @admin.display(description="dead-lettered", ordering="dead_lettered_at")
    def dead_lettered(self, payment):
        # Shorter than the admin's "Nov. 30, 2026, 1:19 a.m.", and it says the zone.
        return date_format(localtime(payment.dead_lettered_at), "j M Y, H:i T")

    @admin.display(description="state")
    def state(self, payment):
        if payment.order.status == Order.Status.PAID:
            return "Resolved: the order is paid"
        if payment.status == Payment.Status.SUCCEEDED:
            return "Resolved: retried and paid"
        if payment.status != Payment.Status.FAILED:
            return "Retried: under way"
        return shortened(f"Open: {payment.error_message}", 60)

    @admin.action(description="Retry the selected payments (same card, same key)")
    def retry_payments(self, request, queryset):
        retried = [p for p in queryset if services.payment_retry(payment=p)]
        skipped = queryset.count() - len(retried)
        self.message_user(request, f"{len(retried)} payment(s) queued again.")
        if skipped:
            self.message_user(
                request,
                f"{skipped} skipped: resolved already, or their order has a payment "
                "under way.",
                messages.WARNING,
            )


def shortened(text: str, length: int) -> str:
    """`text` cut to `length` characters, whole in the tooltip if it was cut."""
    short = Truncator(text).chars(length)
    if short == text:
        return text
    return format_html('<span title="{}">{}</span>', text, short)


# Invoices and imports, read-only with their attempts: where the operations
# page sends staff to look at one.
@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    inlines = [JobAttemptInline]
    list_display = ["__str__", "owner", "status", "attempts", "pages", "created_at"]
    list_filter = ["status"]
    list_select_related = ["owner"]
    readonly_fields = [field.name for field in Invoice._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(OrderImport)
class OrderImportAdmin(admin.ModelAdmin):
    inlines = [JobAttemptInline]
    list_display = ["__str__", "owner", "status", "attempts", "rows_done", "created_at"]
    list_filter = ["status"]
    list_select_related = ["owner"]
    exclude = ["header"]
    readonly_fields = [
        field.name for field in OrderImport._meta.fields if field.name != "header"
    ]

    def has_add_permission(self, request):
        return False
