from django.conf import settings


def site(request):
    return {"debug_mode": settings.DEBUG, "demo_mode": settings.DEMO_MODE}
