from django.contrib import admin
from django.contrib.contenttypes.admin import GenericTabularInline
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from apps.core import operations
from apps.core.models import JobAttempt


class JobAttemptInline(GenericTabularInline):
    """A job's attempts, on its admin page: add to the `inlines` of any Job admin."""

    model = JobAttempt
    ct_field, ct_fk_field = "job_type", "job_id"
    extra = 0
    can_delete = False
    fields = [
        "number",
        "outcome",
        "started_at",
        "finished_at",
        "duration_seconds",
        "worker",
        "error",
        "error_detail",
        "retry_at",
        "task_id",
    ]
    readonly_fields = fields
    ordering = ["started_at", "id"]

    def has_add_permission(self, request, obj=None):
        return False

    def duration_seconds(self, attempt):
        return "" if attempt.duration is None else f"{attempt.duration:.2f} s"


# The beat schedule, as django-celery-beat shows it, with what each entry's
# last run did: its task's latest stored result (periodic tasks keep theirs).
admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class PeriodicTaskWithResultAdmin(PeriodicTaskAdmin):
    list_display = ("name", "enabled", "scheduler", "last_run_at", "last_result")

    @admin.display(description="What the last run did")
    def last_result(self, task: PeriodicTask) -> str:
        return operations.last_result(task.task)
