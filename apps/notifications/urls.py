from django.urls import path

from apps.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.mailbox, name="mailbox"),
    path("list/", views.mailbox_list, name="mailbox_list"),
    path("<int:pk>/", views.email_detail, name="email_detail"),
]
