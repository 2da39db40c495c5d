from celery import shared_task

from apps.core.job_task import job_task
from apps.reports import services
from apps.reports.models import Report


# Whatever ends a report failed (out of time, out of attempts, or a bug)
# still tells its owner.
@job_task(Report, give_up=services.report_give_up)
def report_generate(report: Report) -> None:
    services.report_generate(report=report)


# Idempotent: an expired report is skipped; a run cut short leaves the rest
# to the next hour's.
@shared_task(ignore_result=False, soft_time_limit=50, time_limit=60)
def reports_expire() -> str:
    expired = services.reports_expire()
    return f"Expired {expired} report{'s' if expired != 1 else ''}."
