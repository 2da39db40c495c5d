from django.urls import path

from apps.uploads import views

app_name = "uploads"

urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("<int:pk>/", views.image_detail, name="detail"),
    path("<int:pk>/delete/", views.image_delete, name="delete"),
    path("<int:pk>/<str:variant>/", views.image_file, name="file"),
]
