from django.db.models import QuerySet

from apps.uploads.models import Image


def images_of(user) -> QuerySet[Image]:
    return Image.objects.filter(owner=user)
