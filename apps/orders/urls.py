from django.urls import path

from apps.orders import views
from apps.orders.imports import views as imports

app_name = "orders"

urlpatterns = [
    path("", views.order_list, name="list"),
    path("new/", views.order_new, name="new"),
    path("<int:pk>/", views.order_detail, name="detail"),
    path("<int:pk>/pay/", views.order_pay, name="pay"),
    path("<int:pk>/invoice.pdf", views.order_invoice, name="invoice"),
    path("<int:pk>/invoice/retry/", views.order_invoice_retry, name="invoice_retry"),
    path("imports/", imports.import_list, name="imports"),
    path("imports/sample.csv", imports.import_sample_csv, name="import_sample"),
    path("imports/<int:pk>/", imports.import_detail, name="import_detail"),
    path(
        "imports/<int:pk>/rejected.csv",
        imports.import_rejected_csv,
        name="import_rejected",
    ),
    path("imports/<int:pk>/delete/", imports.import_delete, name="import_delete"),
]
