from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from apps.accounts import services as accounts
from apps.orders import services as orders

DEMO_USERS = [
    # (email, password, is_staff)
    ("demo@example.com", "demo-password", False),
    ("admin@example.com", "admin-password", True),
]


class Command(BaseCommand):
    help = "Create the demo users and data. Safe to run twice."

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            # The passwords below are published in the README.
            raise CommandError(
                "seed_demo creates accounts with published passwords, a superuser "
                "among them; it runs only with DEMO_MODE=True."
            )
        for email, password, is_staff in DEMO_USERS:
            accounts.user_seed_demo(email=email, password=password, is_staff=is_staff)
            role = "staff" if is_staff else "user"
            self.stdout.write(f"Demo {role}: {email} / {password}")
        orders.products_seed_demo()
        self.stdout.write("Demo products: the catalogue at /orders/new/")
