from django.urls import path

from apps.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_list, name="list"),
    path("<int:pk>/", views.report_detail, name="detail"),
    path("<int:pk>/report.pdf", views.report_file, name="file"),
    path("<int:pk>/again/", views.report_again, name="again"),
    path("<int:pk>/delete/", views.report_delete, name="delete"),
]
