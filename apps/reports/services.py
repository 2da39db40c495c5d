"""PDF reports: requested on the web, rendered by a worker, expired by beat.

Follow one report: `report_request` (web) saves the row and enqueues the job;
`report_generate` (worker, through the job task base) counts the rows,
renders the kind's HTML parts into one PDF (apps.core.pdf), saving progress
after each part, and ends the report ready, then tells its owner.
"""

import logging
import secrets
import time
from datetime import date, timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.core import pdf
from apps.core import services as jobs
from apps.notifications import services as notifications
from apps.reports import kinds
from apps.reports.models import Report

logger = logging.getLogger(__name__)

# The progress bar's share of each stage.
COLLECTED, RENDERED, WRITTEN = 10, 90, 97


class ReportNotDeletable(Exception):
    """The report is still being made: cancel it first."""


class TooManyReports(Exception):
    """The owner has REPORTS_IN_PROGRESS reports being made already."""


# Reports one user may have queued or being made at once: each keeps a heavy
# worker busy for up to minutes, and one user must not fill the queue.
REPORTS_IN_PROGRESS = 3


@transaction.atomic
def report_request(*, owner, kind: str, start: date, end: date) -> Report:
    """Save the report and have a worker make it (forms.ReportForm checked
    the dates). Raises TooManyReports past REPORTS_IN_PROGRESS."""
    # The owner's row is locked so that two requests at once count each other.
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
    in_progress = (
        Report.objects.filter(owner=owner).exclude(status__in=Report.FINAL_STATUSES)
    ).count()
    if in_progress >= REPORTS_IN_PROGRESS:
        raise TooManyReports(
            f"You have {in_progress} reports being made; request another when "
            "one of them is done."
        )
    report = Report.objects.create(
        owner=owner,
        kind=kind,
        start=start,
        end=end,
        stored_file=f"reports/{secrets.token_urlsafe(24)}.pdf",
        stage="Waiting for a worker",
    )
    jobs.job_enqueue(report)
    return report


def report_generate(*, report: Report) -> None:
    """Make the report's PDF; run by the worker once per attempt.

    A second attempt renders the whole file again to the same name: the
    file appears only when complete (apps.core.pdf), so nothing half-made is
    ever served.
    """
    jobs.job_progress(report, progress=2, stage="Collecting data")
    upto = kinds.snapshot(report)
    rows = kinds.rows_in(report, upto)
    if kinds.is_capped(report) and rows > settings.REPORT_MAX_ROWS:
        _end(
            report,
            failed=(
                f"These dates hold {rows:,} rows; a report holds at most "
                f"{settings.REPORT_MAX_ROWS:,}. Choose a shorter range."
            ),
        )
        return
    jobs.job_progress(report, progress=COLLECTED, stage="Rendering pages")
    done = 0
    # Celery raises SoftTimeLimitExceeded wherever the task is; should it land
    # in library code that swallows exceptions, the next part ends it anyway.
    deadline = time.monotonic() + report.soft_time_limit

    def parts():
        nonlocal done
        for html, part_rows in kinds.html_parts(report, upto):
            done += part_rows  # Counted once write_pdf has rendered it.
            yield html

    def rendered(pages: int) -> None:
        if time.monotonic() > deadline:
            raise SoftTimeLimitExceeded
        share = min(1, done / rows) if rows else 1
        jobs.job_progress(
            report,
            progress=COLLECTED + int((RENDERED - COLLECTED) * share),
            stage=f"Rendering pages: {pages:,} so far",
        )

    def writing(pages: int) -> None:
        jobs.job_progress(
            report, progress=RENDERED, stage=f"Writing the PDF ({pages:,} pages)"
        )

    made = pdf.write_pdf(
        parts(),
        Path(default_storage.path(report.stored_file)),
        title=str(report),
        on_part=rendered,
        on_writing=writing,
    )
    _end(report, made=made, rows=rows)


def _end(
    report: Report, *, failed: str = "", made: pdf.PdfFile | None = None, rows=0
) -> None:
    """End the report, ready or failed, and tell its owner (a notification,
    and an email with the link unless they chose not to), in one
    transaction with the ending."""
    url = reverse("reports:detail", args=[report.pk])
    with transaction.atomic():
        if failed:
            jobs.job_fail(report, message=failed)
        else:
            jobs.job_succeed(
                report,
                stage="Ready",
                rows=rows,
                pages=made.pages,
                size=made.size,
                expires_at=timezone.now()
                + timedelta(days=settings.REPORT_RETENTION_DAYS),
            )
        notifications.notify(
            owner=report.owner,
            kind="report_failed" if failed else "report_ready",
            message=(
                f"Your {report} report could not be made: {failed}"
                if failed
                else (
                    f"Your {report} report is ready ({made.pages:,} "
                    f"page{'s' if made.pages != 1 else ''})."
                )
            ),
            url=url,
            idempotency_key=f"report_done:{report.pk}",
            email=("report_done", {"report": report, "failed": failed}),
        )
    if not failed:
        logger.info("Report %s ready: %s pages", report.pk, made.pages)


def report_give_up(report: Report, *, message: str, detail: str = "") -> None:
    """The job's give-up hook: out of attempts, out of time, or a bug. A
    failed report has no file: one finished just before the limit struck is
    deleted with it."""
    _end(report, failed=message)
    stored = report.stored_file
    transaction.on_commit(lambda: default_storage.delete(stored))


@transaction.atomic
def report_delete(*, report: Report) -> None:
    """Delete the report and its file."""
    if not report.is_final:
        raise ReportNotDeletable
    stored = report.stored_file
    report.delete()
    if stored:
        transaction.on_commit(lambda: default_storage.delete(stored))


def reports_expire() -> int:
    """Delete the files of reports past their expiry; keep the rows, marked
    expired. Idempotent: an expired report is not touched again."""
    done = 0
    due = Report.objects.filter(
        status=Report.Status.SUCCEEDED,
        expires_at__lt=timezone.now(),
        expired_at__isnull=True,
    )
    for report in due.iterator():
        if report.stored_file:
            default_storage.delete(report.stored_file)
        Report.objects.filter(pk=report.pk).update(
            stored_file="", expired_at=timezone.now()
        )
        done += 1
    if done:
        logger.info("Expired %s reports", done)
    # And what workers killed while writing a PDF left behind.
    pdf.parts_clean(Path(default_storage.path("reports")))
    return done
