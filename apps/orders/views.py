from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.core import downloads
from apps.orders import forms, invoices, selectors, services

ORDERS_PER_PAGE = 50


@login_required
def order_list(request):
    orders = selectors.orders_of(request.user)
    # "Open the imported orders", from an import's page.
    order_import = None
    if (wanted := request.GET.get("import", "")).isascii() and wanted.isdigit():
        order_import = get_object_or_404(
            selectors.order_imports_of(request.user), pk=wanted
        )
        orders = orders.filter(source_import=order_import)
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "orders/order_list.html",
        {
            "orders": page.object_list,
            "page": page,
            "order_import": order_import,
            # Their badges stay live (core's list-status endpoint).
            "payments": [
                p for o in page.object_list if (p := selectors.order_latest_payment(o))
            ],
        },
    )


@login_required
def order_new(request):
    form = forms.OrderForm(request.POST or None, products=selectors.products_for_sale())
    if request.method == "POST" and form.is_valid():
        order = services.order_place(
            owner=request.user,
            quantities=form.quantities(),
            checkout_token=form.cleaned_data["checkout_token"],
        )
        return redirect("orders:detail", pk=order.pk)
    return render(request, "orders/order_new.html", {"form": form})


@login_required
def order_detail(request, pk, payment_form=None):
    order = get_object_or_404(selectors.orders_of(request.user), pk=pk)
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "payment": selectors.order_latest_payment(order),
            "payment_form": payment_form or forms.PaymentForm(),
            "invoice": selectors.order_invoice(order),
        },
    )


@login_required
@require_POST
def order_pay(request, pk):
    order = get_object_or_404(selectors.orders_of(request.user), pk=pk)
    if order.status == order.Status.PAID:
        messages.info(request, "This order is already paid.")
        return redirect("orders:detail", pk=order.pk)
    form = forms.PaymentForm(request.POST)
    if not form.is_valid():
        return order_detail(request, pk, payment_form=form)
    try:
        services.payment_start(
            order=order, card_number=form.cleaned_data["card_number"]
        )
    except services.OrderNotPayable:
        messages.info(request, "A payment for this order is already under way.")
    return redirect("orders:detail", pk=order.pk)


@login_required
@require_safe
def order_invoice(request, pk):
    """The order's invoice PDF, to its owner only."""
    order = get_object_or_404(selectors.orders_of(request.user), pk=pk)
    invoice = selectors.order_invoice(order)
    if invoice is None or not invoice.is_ready:
        raise Http404("This order has no invoice yet.")
    return downloads.stored_pdf_response(
        invoice.stored_file,
        invoice.download_name,
        download=request.GET.get("download") == "1",
    )


@login_required
@require_POST
def order_invoice_retry(request, pk):
    order = get_object_or_404(selectors.orders_of(request.user), pk=pk)
    invoice = selectors.order_invoice(order)
    if invoice is None or not invoices.invoice_retry(invoice=invoice):
        messages.info(request, "This invoice is not one that failed.")
    return redirect("orders:detail", pk=order.pk)
