from django.contrib import admin

from apps.core.admin import JobAttemptInline
from apps.uploads.models import Image, UploadBatch


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "status",
        "format",
        "width",
        "height",
        "created_at",
    ]
    list_filter = ["status", "format"]
    search_fields = ["name", "owner__email"]
    readonly_fields = [field.name for field in Image._meta.fields]
    inlines = [JobAttemptInline]

    def has_add_permission(self, request):
        return False


@admin.register(UploadBatch)
class UploadBatchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "owner", "created_at", "notified_at"]
    readonly_fields = ["owner", "created_at", "notified_at"]
