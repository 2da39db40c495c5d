from django.urls import path

from apps.core import metrics, operations_views, views

app_name = "core"

urlpatterns = [
    path("", views.home, name="home"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
    path("staff/operations/", operations_views.operations_page, name="operations"),
    path(
        "staff/operations/queues/",
        operations_views.operations_queues,
        name="operations_queues",
    ),
    path(
        "staff/operations/jobs/",
        operations_views.operations_jobs,
        name="operations_jobs",
    ),
    path(
        "staff/operations/queue/",
        operations_views.operations_queue,
        name="operations_queue",
    ),
    path(
        "staff/operations/chart/",
        operations_views.operations_chart,
        name="operations_chart",
    ),
    path(
        "staff/operations/run-now/",
        operations_views.operations_run_now,
        name="operations_run_now",
    ),
    path(
        "staff/operations/replay/",
        operations_views.operations_replay,
        name="operations_replay",
    ),
    path(
        "staff/operations/jobs/act/",
        operations_views.operations_act_on_jobs,
        name="operations_act",
    ),
    path("jobs/<str:label>/status/", views.job_list_status, name="job_list_status"),
    path("jobs/<str:label>/<int:pk>/status/", views.job_status, name="job_status"),
    path("jobs/<str:label>/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
]
