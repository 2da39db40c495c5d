from django.urls import path

from apps.notifications import views

app_name = "notifications"

urlpatterns = [
    path("mailbox/", views.mailbox, name="mailbox"),
    path("mailbox/list/", views.mailbox_list, name="mailbox_list"),
    path("mailbox/<int:pk>/", views.email_detail, name="email_detail"),
    path(
        "mailbox/<int:pk>/attachments/<int:number>/",
        views.email_attachment,
        name="email_attachment",
    ),
    path("notifications/", views.notification_list, name="list"),
    path("notifications/read/", views.notifications_read, name="read"),
]
