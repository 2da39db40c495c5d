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
    path("notifications/bell/", views.notification_bell, name="bell"),
    path("notifications/<int:pk>/", views.notification_open, name="open"),
    path("notifications/read/", views.notifications_read, name="read"),
    path("notifications/settings/", views.notification_settings, name="settings"),
    path(
        "notifications/unsubscribe/<str:token>/",
        views.unsubscribe,
        name="unsubscribe",
    ),
    path("activity/", views.activity, name="activity"),
    path(
        "announcements/<int:pk>/",
        views.announcement_detail,
        name="announcement",
    ),
    path("staff/announcements/", views.announcement_list, name="announcements"),
    path(
        "staff/announcements/list/",
        views.announcement_table,
        name="announcement_table",
    ),
]
