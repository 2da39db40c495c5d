from django.contrib import admin

from apps.core.admin import JobAttemptInline
from apps.notifications.models import (
    Announcement,
    AnnouncementChunk,
    Notification,
    OutgoingEmail,
)


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


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["message", "owner", "kind", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["owner__email", "message", "idempotency_key"]
    list_select_related = ["owner"]
    readonly_fields = [field.name for field in Notification._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Announcement)
class AnnouncementAdmin(admin.ModelAdmin):
    inlines = [JobAttemptInline]
    list_display = [
        "subject",
        "audience",
        "owner",
        "status",
        "recipients",
        "created_at",
    ]
    list_select_related = ["owner"]
    # Sent from the staff page (/staff/announcements/), which fans them out.
    readonly_fields = [field.name for field in Announcement._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(AnnouncementChunk)
class AnnouncementChunkAdmin(admin.ModelAdmin):
    inlines = [JobAttemptInline]
    list_display = ["__str__", "status", "attempts", "delivered", "finished_at"]
    list_filter = ["status", "announcement"]
    exclude = ["user_ids"]
    readonly_fields = [
        field.name
        for field in AnnouncementChunk._meta.fields
        if field.name != "user_ids"
    ]

    def has_add_permission(self, request):
        return False
