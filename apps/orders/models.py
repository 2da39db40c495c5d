from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from apps.core.models import Job


class Product(models.Model):
    sku = models.CharField("SKU", max_length=40, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.01"))]
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Order(models.Model):
    class Status(models.TextChoices):
        AWAITING_PAYMENT = "awaiting_payment", "Awaiting payment"
        PROCESSING = "processing", "Payment processing"
        PAID = "paid", "Paid"
        PAYMENT_FAILED = "payment_failed", "Payment failed"

    # A new payment may start only from these.
    PAYABLE_STATUSES = (Status.AWAITING_PAYMENT, Status.PAYMENT_FAILED)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="orders"
    )
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.AWAITING_PAYMENT
    )
    total = models.DecimalField(max_digits=12, decimal_places=2)
    # The order form carries a fresh token; submitting it twice finds the first order.
    checkout_token = models.UUIDField()
    created_at = models.DateTimeField(auto_now_add=True)
    # When the customer ordered: now for the order form, the file's date for
    # an imported order.
    ordered_at = models.DateTimeField(default=timezone.now)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Set once staff have been told the order waits too long for payment.
    flagged_stale_at = models.DateTimeField(null=True, blank=True)
    # The order's id in the owner's own system, for an imported order: unique
    # per owner, which is what makes importing a file twice import it once.
    external_id = models.CharField(max_length=64, blank=True)
    source_import = models.ForeignKey(
        "OrderImport",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )

    class Meta:
        ordering = ["-ordered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "checkout_token"], name="orders_one_order_per_checkout"
            ),
            models.UniqueConstraint(
                fields=["owner", "external_id"],
                condition=~Q(external_id=""),
                name="orders_one_order_per_external_id",
            ),
        ]

    def __str__(self):
        return f"Order #{self.pk}"

    @property
    def is_payable(self) -> bool:
        return self.status in self.PAYABLE_STATUSES


class OrderLine(models.Model):
    """One product in an order, with its name and price as they were at checkout."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    product_name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.quantity} × {self.product_name}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class Payment(Job):
    """One attempt to get an order paid with one card, charged by a worker."""

    task_name = "apps.orders.tasks.payment_process"
    # The operations page: staff's own retry, and no discarding (a failed
    # payment stays failed; the customer pays its order again).
    operator_retry = "apps.orders.services.payment_retry_for_operator"
    operator_can_discard = False
    max_attempts = 5
    retry_backoff = settings.PAYMENT_RETRY_BACKOFF
    retry_backoff_max = 120
    soft_time_limit = 15
    time_limit = 20
    # Never cancelled by the user: once it runs, the card may be charging, and
    # only the gateway would know the outcome.
    cancellable_statuses = ()
    # Also update the order's own badge as the payment moves.
    status_template = "orders/_payment_status.html"
    badge_template = "orders/_payment_badge.html"

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    card_token = models.CharField(max_length=40)
    card_last4 = models.CharField(max_length=4)
    # Sent with every attempt of this payment, so the gateway charges it once.
    idempotency_key = models.CharField(max_length=80, unique=True)
    charge_id = models.CharField(max_length=40, blank=True)
    # The gateway's code for the last failure: card_declined, processing_error...
    failure_code = models.CharField(max_length=40, blank=True)
    # Set when the last retry failed too: staff find these in the admin's
    # dead-letter list and can retry them.
    dead_lettered_at = models.DateTimeField(null=True, blank=True)

    class Meta(Job.Meta):
        constraints = [
            # A double-submitted payment form finds the payment already running.
            models.UniqueConstraint(
                fields=["order"],
                condition=~Q(status="failed"),
                name="orders_one_live_payment_per_order",
            )
        ]

    def __str__(self):
        return f"Payment #{self.pk} for order #{self.order_id}"

    def get_absolute_url(self):
        return reverse("orders:detail", args=[self.order_id])


class Invoice(Job):
    """The PDF invoice of a paid order, rendered by a worker once its payment
    succeeds; the "order paid" email follows it (a Celery chain) and carries
    it as an attachment."""

    task_name = "apps.orders.tasks.invoice_render"
    # Runs when the render has ended, however: with the PDF attached if it
    # was made, saying it is not if it failed.
    chained_task_name = "apps.orders.tasks.order_paid_email"
    max_attempts = 3
    retry_backoff = 5
    retry_backoff_max = 60
    soft_time_limit = 60
    time_limit = 75
    status_template = "orders/_invoice_status.html"

    order = models.OneToOneField(
        Order, on_delete=models.CASCADE, related_name="invoice"
    )
    # Where the PDF is (default storage), under an unguessable name chosen
    # when the invoice is created; a second render writes the same file.
    stored_file = models.CharField(max_length=200)
    pages = models.PositiveIntegerField(default=0)
    size = models.PositiveBigIntegerField(default=0)  # Bytes.

    def __str__(self):
        return f"Invoice {self.number}"

    def get_absolute_url(self):
        return reverse("orders:detail", args=[self.order_id])

    @property
    def number(self) -> str:
        return f"INV-{self.order_id:06d}"

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.SUCCEEDED

    @property
    def download_name(self) -> str:
        return f"invoice-{self.number}.pdf"


class OrderImport(Job):
    """One CSV file of orders, read and imported by a worker in batches.

    The counts are saved with each batch, in the batch's transaction: an
    attempt that dies resumes after the last saved batch, and the counts
    always say what is in the database.
    """

    task_name = "apps.orders.tasks.order_import_run"
    # A file's problems are reported row by row, not retried; attempts are
    # for workers lost under it (each deploy may stop one), and each goes on
    # where the last one stopped.
    max_attempts = 10
    retry_backoff = 5
    retry_backoff_max = 60
    # A million rows take minutes; each batch's progress renews the lease.
    soft_time_limit = 60 * 30
    time_limit = 60 * 30 + 30
    # Each batch commits with the counts; the next attempt starts after it.
    resumable = True
    cancellable_statuses = (Job.Status.QUEUED, Job.Status.RETRYING, Job.Status.RUNNING)
    status_template = "orders/imports/_import_status.html"

    file_name = models.CharField(max_length=255)  # As uploaded, for display.
    file_size = models.PositiveBigIntegerField()
    # Where the file is stored (default storage), under an unguessable name;
    # emptied when the file is deleted.
    stored_file = models.CharField(max_length=200, blank=True)
    # The file's header row as written, for the rejected rows' CSV.
    header = models.JSONField(default=list)
    total_rows = models.PositiveIntegerField(default=0)  # Counted at upload.
    rows_done = models.PositiveIntegerField(default=0)  # Through the last batch.
    orders_imported = models.PositiveIntegerField(default=0)
    orders_skipped = models.PositiveIntegerField(default=0)  # Already there.
    rows_rejected = models.PositiveIntegerField(default=0)

    class Meta(Job.Meta):
        verbose_name = "order import"

    def __str__(self):
        return f"Import #{self.pk} ({self.file_name})"

    def get_absolute_url(self):
        return reverse("orders:import_detail", args=[self.pk])

    @property
    def rows_per_second(self) -> float | None:
        """The reading speed of this attempt (rows saved before it count in;
        only a resumed import reads the start again quickly)."""
        if not self.started_at or not self.rows_done:
            return None
        end = self.finished_at or timezone.now()
        seconds = (end - self.started_at).total_seconds()
        return self.rows_done / seconds if seconds >= 0.5 else None


class OrderImportRejection(models.Model):
    """A row an import did not take, with why, as the file had it."""

    order_import = models.ForeignKey(
        OrderImport, on_delete=models.CASCADE, related_name="rejections"
    )
    row_number = models.PositiveIntegerField()  # As a spreadsheet numbers it.
    reason = models.CharField(max_length=500)
    values = models.JSONField()
    # The row's order, as the file names it.
    external_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["row_number"]
        indexes = [
            models.Index(fields=["order_import", "row_number"]),
            models.Index(fields=["order_import", "external_id"]),
        ]

    def __str__(self):
        return f"Row {self.row_number}: {self.reason}"


class DeadLetterPayment(Payment):
    """Payments that failed after their last retry, for staff to look at."""

    class Meta:
        proxy = True
        verbose_name = "dead-letter payment"


# The fake gateway's own records (apps.orders.gateway). A real processor keeps
# these on its side; here they live in the database so that web, worker and
# tests all see the same cards and charges.


class GatewayCard(models.Model):
    token = models.CharField(max_length=40, unique=True)
    number = models.CharField(max_length=19)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.token} (…{self.number[-4:]})"


class GatewayCharge(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        DECLINED = "declined", "Declined"

    charge_id = models.CharField(max_length=40, unique=True)
    idempotency_key = models.CharField(max_length=80, unique=True)
    card = models.ForeignKey(GatewayCard, on_delete=models.PROTECT)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=16, choices=Status.choices)
    decline_code = models.CharField(max_length=40, blank=True)
    # Requests received for this key, including failed ones.
    requests = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.charge_id} {self.status}"
