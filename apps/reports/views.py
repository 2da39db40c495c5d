from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.core import downloads
from apps.reports import forms, selectors, services


@login_required
def report_list(request):
    """Reports: the request form, and the user's reports."""
    form = forms.ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.report_request(owner=request.user, **form.cleaned_data)
        except services.TooManyReports as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("reports:detail", pk=report.pk)
    return render(
        request,
        "reports/report_list.html",
        {"form": form, "reports": list(selectors.reports_of(request.user)[:50])},
        status=400 if form.errors else 200,
    )


@login_required
@require_safe
def report_detail(request, pk):
    report = get_object_or_404(selectors.reports_of(request.user), pk=pk)
    return render(request, "reports/report_detail.html", {"report": report})


@login_required
@require_safe
def report_file(request, pk):
    """The PDF, to its owner only: shown in the browser, or saved with
    ?download=1."""
    report = get_object_or_404(selectors.reports_of(request.user), pk=pk)
    if not report.is_ready:
        raise Http404("This report has no file (not ready, or expired).")
    return downloads.stored_pdf_response(
        report.stored_file,
        report.download_name,
        download=request.GET.get("download") == "1",
    )


@login_required
@require_POST
def report_again(request, pk):
    """The same kind and dates as that report, made again (with today's data)."""
    report = get_object_or_404(selectors.reports_of(request.user), pk=pk)
    try:
        again = services.report_request(
            owner=request.user, kind=report.kind, start=report.start, end=report.end
        )
    except services.TooManyReports as exc:
        messages.error(request, str(exc))
        return redirect("reports:list")
    return redirect("reports:detail", pk=again.pk)


@login_required
@require_POST
def report_delete(request, pk):
    report = get_object_or_404(selectors.reports_of(request.user), pk=pk)
    try:
        services.report_delete(report=report)
    except services.ReportNotDeletable:
        messages.error(request, "This report is still being made: cancel it first.")
        return redirect("reports:detail", pk=pk)
    messages.success(request, f"Report #{pk} and its file are deleted.")
    return redirect("reports:list")
