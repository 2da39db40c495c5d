import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.orders import selectors
from apps.orders.imports import export, forms, rows, services, upload


@login_required
def import_list(request):
    """Import orders: the format, the upload form, and past imports."""
    form = forms.OrderImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            order_import = services.order_import_start(
                owner=request.user, file=form.cleaned_data["file"]
            )
        except upload.FileRefused as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("orders:import_detail", pk=order_import.pk)
    imports = list(selectors.order_imports_of(request.user)[:50])
    return render(
        request,
        "orders/imports/import_list.html",
        {
            "form": form,
            "imports": imports,
            "columns": export.COLUMN_HELP,
            "sample": export.sample_rows(),
            "max_bytes": settings.IMPORT_MAX_BYTES,
            "max_rows": settings.IMPORT_MAX_ROWS,
            "max_lines": rows.MAX_LINES,
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_safe
def import_detail(request, pk):
    order_import = get_object_or_404(selectors.order_imports_of(request.user), pk=pk)
    return render(
        request, "orders/imports/import_detail.html", {"order_import": order_import}
    )


@login_required
@require_safe
def import_rejected_csv(request, pk):
    """The rejected rows as CSV, streamed, to fix and upload again."""
    order_import = get_object_or_404(selectors.order_imports_of(request.user), pk=pk)
    response = StreamingHttpResponse(
        export.rejected_rows_csv(order_import), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="import-{order_import.pk}-rejected-rows.csv"'
    )
    return response


@login_required
@require_safe
def import_sample_csv(request):
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="orders-sample.csv"'
    writer = csv.writer(response)
    writer.writerows(export.sample_rows())
    return response


@login_required
@require_POST
def import_delete(request, pk):
    order_import = get_object_or_404(selectors.order_imports_of(request.user), pk=pk)
    try:
        services.order_import_delete(order_import=order_import)
    except services.ImportNotDeletable:
        messages.error(request, "This import is still running: cancel it first.")
        return redirect("orders:import_detail", pk=pk)
    messages.success(
        request,
        f"Import #{pk} and its file are deleted; the orders it imported stay.",
    )
    return redirect("orders:imports")
