from django.db.models import QuerySet

from apps.accounts.models import User


def staff_users() -> QuerySet[User]:
    """Who hears about operational problems (stale orders, dead letters)."""
    return User.objects.filter(is_staff=True, is_active=True)


def user_by_email(email: str) -> User | None:
    return User.objects.filter(email__iexact=email).first()
