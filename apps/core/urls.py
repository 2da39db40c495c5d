from django.urls import path

from apps.core import metrics, views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("jobs/<str:label>/status/", views.job_list_status, name="job_list_status"),
    path("jobs/<str:label>/<int:pk>/status/", views.job_status, name="job_status"),
    path("jobs/<str:label>/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
]
