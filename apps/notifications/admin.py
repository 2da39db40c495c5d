from django.contrib import admin

from apps.core.admin import JobAttemptInline
from apps.notifications.models import OutgoingEmail


@admin.register(OutgoingEmail)
class OutgoingEmailAdmin(admin.ModelAdmin):
    inlines = [JobAttemptInline]
    list_display = [
        "subject",
        "to_address",
        "template",
        "status",
        "attempts",
        "created_at",
        "sent_at",
    ]
    list_filter = ["status", "template"]
    search_fields = ["to_address", "subject", "idempotency_key"]
    date_hierarchy = "created_at"
    list_select_related = ["owner"]
    # Rows change only through the services; the admin shows them.
    readonly_fields = [field.name for field in OutgoingEmail._meta.fields]

    def has_add_permission(self, request):
        return False
