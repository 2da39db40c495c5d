from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("apps.core.urls")),
    path("accounts/", include("apps.accounts.urls")),
    path("", include("apps.notifications.urls")),
    path("orders/", include("apps.orders.urls")),
    path("reports/", include("apps.reports.urls")),
    path("images/", include("apps.uploads.urls")),
    path("admin/", admin.site.urls),
]
