from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the demo users and data of every app. Safe to run twice."

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            # The demo passwords are published in the README.
            raise CommandError(
                "seed_demo creates accounts with published passwords, a superuser "
                "among them; it runs only with DEMO_MODE=True."
            )
        # Each app seeds its own data (AppConfig.seed_demo), in INSTALLED_APPS
        # order, so that core needs to know no app.
        for config in apps.get_app_configs():
            seed = getattr(config, "seed_demo", None)
            if seed is not None:
                for line in seed():
                    self.stdout.write(line)
