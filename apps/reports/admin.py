from django.contrib import admin

from apps.core.admin import JobAttemptInline
from apps.reports.models import Report


@admin.register(Report)
class ReportAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "status", "pages", "size", "created_at"]
    list_filter = ["status", "kind"]
    search_fields = ["owner__email"]
    readonly_fields = [field.name for field in Report._meta.fields]
    inlines = [JobAttemptInline]

    def has_add_permission(self, request):
        return False
