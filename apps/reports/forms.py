from datetime import timedelta

from django import forms
from django.utils import timezone

from apps.reports.models import Report

# "At most a year": a leap year's 366 days fit.
MAX_DAYS = 366


class ReportForm(forms.Form):
    kind = forms.ChoiceField(
        label="What it shows",
        # Each choice says what is in it.
        choices=[
            (
                Report.Kind.SALES_SUMMARY,
                "Sales summary: paid orders and revenue by day (with a chart) "
                "and by product",
            ),
            (
                Report.Kind.ORDER_HISTORY,
                "Order history: every order placed in the dates, one per row, "
                "over as many pages as it takes",
            ),
            (
                Report.Kind.FAILED_PAYMENTS,
                "Failed payments: every failed attempt to charge a card, from "
                "the payments' attempt history",
            ),
        ],
        widget=forms.RadioSelect,
        initial=Report.Kind.SALES_SUMMARY,
        error_messages={"required": "Choose what the report is about."},
    )
    start = forms.DateField(
        label="From",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the first day as a date, like 2026-01-31."},
    )
    end = forms.DateField(
        label="To (included)",
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Enter the last day as a date, like 2026-03-31."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        today = timezone.localdate()
        self.fields["start"].initial = today.replace(day=1)
        self.fields["end"].initial = today
        for name in ("start", "end"):
            self.fields[name].widget.attrs["max"] = today.isoformat()

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        today = timezone.localdate()
        if end and end > today:
            self.add_error("end", "The report cannot go past today.")
        if start and start > today:
            self.add_error("start", "The report cannot start in the future.")
        if start and end and start > end:
            self.add_error("end", "The last day must be on or after the first.")
        elif start and end and end - start >= timedelta(days=MAX_DAYS):
            self.add_error(
                "end",
                f"A report covers at most a year ({MAX_DAYS} days); these dates "
                f"span {(end - start).days + 1}.",
            )
        return cleaned
